// The system under test: a local Patroni cluster with HAProxy (seed config) and pgrouter in
// front of it, plus the names and libpq conninfo strings of every path a client can take.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, findFreePort, waitFor, type LocalClusterOptions } from '../../test/harness/cluster.js';
import { describeError } from '../../src/errors.js';
import { log, run, scratchDir, stopWithProcess, tcpAccepts } from './common.js';
import { HaproxyProcess } from './haproxy.js';
import { ManagedProcess } from './managed-process.js';
import { PgrouterProcess } from './pgrouter.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * direct:   the leader's own port (no router; the ceiling for throughput)
 * haproxy:  HAProxy `listen primary` (the seeds' stack)
 * pgrouter: pgrouter's RW listener (workers 1: the data path in the one process; the default
 *           `relay: auto`, so the native relay where the addon is built)
 * pgrouter-js: a second pgrouter, workers 1, with `relay: js` (Node streams)
 * pgrouter-auto: a pgrouter with `workers: auto` (one data-path worker per CPU)
 * pipe:     a naive Node `pipe()` proxy to the leader's port (bench/lib/pipe-proxy.ts)
 * libpq:    libpq multi-host with target_session_attrs=read-write (the client-side limit for failover)
 */
export type PathName = 'direct' | 'haproxy' | 'pgrouter' | 'pgrouter-js' | 'pgrouter-auto' | 'pipe' | 'libpq';

/** The pgrouter paths and the config each adds to the bench's generated one. */
const ROUTERS = { pgrouter: {}, 'pgrouter-js': { relay: 'js' }, 'pgrouter-auto': { workers: 'auto' } } as const;
type RouterPath = keyof typeof ROUTERS;
const isRouter = (p: PathName): p is RouterPath => p in ROUTERS;

export interface StackOptions {
  kind: string;
  pgrouter: boolean;
  /** Also start pgrouter with `workers: auto` (path `pgrouter-auto`). */
  pgrouterAuto?: boolean;
  /** Also start pgrouter with `relay: js` (path `pgrouter-js`). */
  pgrouterJs?: boolean;
  /** Also start the naive pipe() proxy to the leader (path `pipe`). */
  pipe?: boolean;
  /**
   * PostgreSQL with ssl=on, and pgrouter with a third listener that terminates TLS (`rw_tls`),
   * for the select-tls mode. The REST API stays on HTTP (HAProxy's checks).
   */
  tls?: boolean;
  cluster?: LocalClusterOptions;
}

/** The naive pipe() proxy, fixed to the leader it was started with. */
interface PipeProxy {
  readonly proc: ManagedProcess;
  readonly port: number;
}

export class Stack {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly cluster: LocalCluster,
    readonly haproxy: HaproxyProcess,
    readonly routers: Partial<Record<RouterPath, PgrouterProcess>>,
    readonly pipe: PipeProxy | undefined,
  ) {}

  get pgrouter(): PgrouterProcess | undefined {
    return this.routers.pgrouter;
  }

  static async start(opts: StackOptions): Promise<Stack> {
    const dir = scratchDir(opts.kind);
    log(`scratch dir ${dir}`);
    const cluster = await LocalCluster.start({ log: (line) => log(`cluster: ${line}`), ...(opts.tls ? { tls: 'postgresql' as const } : {}), ...(opts.cluster ?? {}) });
    // pgrouter presents the nodes' own certificate (127.0.0.1 is in it); root reads its key.
    const leaf = opts.tls ? cluster.pki?.leaves['server'] : undefined;
    let haproxy: HaproxyProcess | undefined;
    const routers: Partial<Record<RouterPath, PgrouterProcess>> = {};
    let pipe: PipeProxy | undefined;
    const startRouter = async (name: string, extra: Record<string, unknown>): Promise<PgrouterProcess> => {
      const router = new PgrouterProcess(path.join(dir, name), {
        scope: cluster.scope,
        etcd: { namespace: cluster.namespace, host: cluster.etcdHost, port: cluster.etcdPort },
        ports: { rw: await findFreePort(), ro: await findFreePort(), http: await findFreePort(), ...(leaf ? { tls: await findFreePort() } : {}) },
        ...(leaf ? { tls: { cert: leaf.cert, key: leaf.key } } : {}),
        extra,
      });
      await router.start();
      return router;
    };
    try {
      haproxy = new HaproxyProcess(path.join(dir, 'haproxy'), {
        nodes: cluster.nodes,
        ports: { primary: await findFreePort(), replicas: await findFreePort(), stats: await findFreePort() },
      });
      await haproxy.start();
      const wanted: Record<RouterPath, boolean | undefined> = { pgrouter: opts.pgrouter, 'pgrouter-js': opts.pgrouterJs, 'pgrouter-auto': opts.pgrouterAuto };
      for (const name of Object.keys(ROUTERS) as RouterPath[]) if (wanted[name]) routers[name] = await startRouter(name, { ...ROUTERS[name] });
      if (opts.pipe) pipe = await startPipe(dir, cluster);
    } catch (err) {
      log(`stack start failed: ${describeError(err)}; tearing down`);
      await pipe?.proc.stop(5000);
      for (const r of Object.values(routers)) await r.stop();
      await haproxy?.stop();
      await cluster.stop();
      throw err;
    }
    const stack = new Stack(dir, cluster, haproxy, routers, pipe);
    stack.installSignalHandlers();
    return stack;
  }

  /** Paths this stack can serve for writes, in a fixed order (rounds alternate it). */
  writePaths(wanted: readonly PathName[]): PathName[] {
    return wanted.filter((p) => (isRouter(p) ? this.routers[p] !== undefined : p !== 'pipe' || this.pipe !== undefined));
  }

  /** The pgrouter process behind a path, if the path is a pgrouter. */
  router(p: PathName): PgrouterProcess | undefined {
    return isRouter(p) ? this.routers[p] : undefined;
  }

  /** The proxy process (HAProxy, the pipe proxy, or pgrouter, whose workers are its children) behind a path. */
  proxyPid(p: PathName): number | undefined {
    return p === 'haproxy' ? this.haproxy.pid : p === 'pipe' ? this.pipe?.proc.pid : this.router(p)?.pid;
  }

  /** The generated configs, for the result file. */
  configs(): Record<string, string> {
    const out: Record<string, string> = { haproxy: this.haproxy.configText };
    for (const [name, r] of Object.entries(this.routers)) out[name] = r.configText;
    return out;
  }

  /**
   * The relay engine of each pgrouter path, from its /stats.json (the engine of its first
   * data-path process; `relay: auto` is native only where the addon loads).
   */
  async relayEngines(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [name, r] of Object.entries(this.routers)) {
      const stats = (await (await fetch(`http://127.0.0.1:${r.ports.http}/stats.json`, { signal: AbortSignal.timeout(5000) })).json()) as { relay?: Record<string, { engine: string }> };
      out[name] = [...new Set(Object.values(stats.relay ?? {}).map((x) => x.engine))].join('+') || 'unknown';
    }
    return out;
  }

  /**
   * libpq conninfo for a path; `direct` means the current leader's port. With `tls`, pgrouter's
   * paths are their `rw_tls` listener (the client sets sslmode).
   */
  async dsn(p: PathName, opts: { tls?: boolean } = {}): Promise<string> {
    const base = 'user=postgres dbname=postgres';
    switch (p) {
      case 'direct': {
        const leader = this.cluster.node(await this.cluster.leader());
        return `host=${leader.host} port=${leader.pgPort} ${base}`;
      }
      case 'haproxy':
        return `host=127.0.0.1 port=${this.haproxy.ports.primary} ${base}`;
      case 'pipe': {
        if (!this.pipe) throw new Error('pipe is not running in this stack');
        return `host=127.0.0.1 port=${this.pipe.port} ${base}`;
      }
      case 'pgrouter':
      case 'pgrouter-js':
      case 'pgrouter-auto': {
        const router = this.router(p);
        if (!router) throw new Error(`${p} is not running in this stack`);
        const port = opts.tls ? router.ports.tls : router.ports.rw;
        if (port === undefined) throw new Error(`${p} has no TLS listener (Stack.start({ tls: true }))`);
        return `host=127.0.0.1 port=${port} ${base}`;
      }
      case 'libpq': {
        const nodes = this.cluster.nodes;
        return `host=${nodes.map((n) => n.host).join(',')} port=${nodes.map((n) => n.pgPort).join(',')} target_session_attrs=read-write ${base}`;
      }
    }
  }

  /** Waits until a path connects to a writable server (pg_is_in_recovery() = false). */
  async waitWritable(p: PathName, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => {
        const dsn = await this.dsn(p);
        const r = await run('psql', ['-X', '-At', '-d', `${dsn} connect_timeout=3`, '-c', 'select pg_is_in_recovery()'], {
          timeoutMs: 10_000,
        });
        return r.stdout.trim() === 'f';
      },
      { timeoutMs, intervalMs: 250, what: `${p} to reach a writable server` },
    );
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.pipe?.proc.stop(5000);
      for (const r of Object.values(this.routers)) await r.stop();
      await this.haproxy.stop();
      await this.cluster.stop();
      log(`stack stopped; configs and logs kept in ${this.dir}`);
    })();
    return this.stopping;
  }

  private installSignalHandlers(): void {
    stopWithProcess('stack', () => this.stop(), () => {
      this.pipe?.proc.killSync();
      for (const r of Object.values(this.routers)) r.killSync();
      this.haproxy.killSync();
    });
  }
}

/** The naive pipe() proxy, in front of the leader as it is now (the throughput bench has no failover). */
async function startPipe(dir: string, cluster: LocalCluster): Promise<PipeProxy> {
  const leader = cluster.node(await cluster.leader());
  const port = await findFreePort();
  const proc = new ManagedProcess({
    name: 'pipe-proxy',
    command: process.execPath,
    args: [path.join(HERE, 'pipe-proxy.js'), '--port', String(port), '--target', `${leader.host}:${leader.pgPort}`],
    logFile: path.join(dir, 'pipe-proxy.log'),
  });
  await proc.start();
  await waitFor(() => tcpAccepts('127.0.0.1', port), { timeoutMs: 10_000, intervalMs: 50, what: 'the pipe proxy to listen', ...(proc.died ? { signal: proc.died } : {}) });
  log(`pipe proxy started (pid ${proc.pid}): ${port} → ${leader.name} ${leader.host}:${leader.pgPort}`);
  return { proc, port };
}
