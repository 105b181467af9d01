// Drives bench/lib/hold-sessions.ts (its own process): start it, wait until its sessions are
// open, tell it to close them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface Opened {
  ok: number;
  failed: number;
  seconds: number;
  rate_per_s: number | null;
  errors: Record<string, number>;
}

/** The holder process: resolves `opened` once every session is open, `close()` ends them. */
export function holdSessions(port: number, count: number): { opened: Promise<Opened>; close: () => Promise<number> } {
  const child = spawn(process.execPath, [path.join(HERE, 'hold-sessions.js'), '--port', String(port), '--count', String(count)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    messages.push(JSON.parse(line) as Record<string, unknown>);
    waiters.splice(0).forEach((w) => w());
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = (ev: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = messages.find((x) => x.ev === ev);
        if (m) resolve(m);
        else waiters.push(check);
      };
      void exited.then((code) => reject(new Error(`hold-sessions exited (${code}) before "${ev}"`)));
      check();
    });
  return {
    opened: next('opened') as Promise<unknown> as Promise<Opened>,
    close: async () => {
      child.stdin.end('close\n');
      const closed = await next('closed');
      await exited;
      return Number(closed.lost);
    },
  };
}
