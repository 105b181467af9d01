// Memory figures of a running proxy: RSS from /proc (the process and its direct children, so
// pgrouter's cluster workers count), and for pgrouter the V8 heap from its /metrics.
import fs from 'node:fs';

/** A /proc file, or null when the process is gone (processes come and go while we scan /proc). */
function readProc(pid: number | string, file: string): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw err;
  }
}

/** VmRSS of a process plus its direct children (pgrouter's cluster workers), in KiB. */
export function rssKiB(pid: number): number {
  const vmrss = (p: number | string): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readProc(p, 'status') ?? '')?.[1] ?? 0);
  let total = vmrss(pid);
  if (total === 0) throw new Error(`no VmRSS for pid ${pid}: the proxy is gone`);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProc(entry, 'stat');
    // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) total += vmrss(entry);
  }
  return total;
}

/** V8 heap used and external memory (Buffers) in KiB from prom-client's default metrics. */
export async function heapKiB(url: string): Promise<{ heap_used: number; external: number }> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  const num = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  return { heap_used: num('nodejs_heap_size_used_bytes'), external: num('nodejs_external_memory_bytes') };
}
