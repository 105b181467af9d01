// The system under test: a local Patroni cluster with HAProxy (seed config) and pgrouter in
// front of it, plus the names and libpq conninfo strings of every path a client can take.
import path from 'node:path';
import { LocalCluster, findFreePort, waitFor, type LocalClusterOptions } from '../../test/harness/cluster.js';
import { describeError } from '../../src/errors.js';
import { log, run, scratchDir } from './common.js';
import { HaproxyProcess } from './haproxy.js';
import { PgrouterProcess } from './pgrouter.js';

/**
 * direct:   the leader's own port (no router; the ceiling for throughput)
 * haproxy:  HAProxy `listen primary` (the seeds' stack)
 * pgrouter: pgrouter's RW listener (workers 1: the data path in the one process)
 * pgrouter-auto: a second pgrouter with `workers: auto` (one data-path worker per CPU)
 * libpq:    libpq multi-host with target_session_attrs=read-write (the client-side limit for failover)
 */
export type PathName = 'direct' | 'haproxy' | 'pgrouter' | 'pgrouter-auto' | 'libpq';

export interface StackOptions {
  kind: string;
  pgrouter: boolean;
  /** Also start pgrouter with `workers: auto` (path `pgrouter-auto`). */
  pgrouterAuto?: boolean;
  /**
   * PostgreSQL with ssl=on, and pgrouter with a third listener that terminates TLS (`rw_tls`),
   * for the select-tls mode. The REST API stays on HTTP (HAProxy's checks).
   */
  tls?: boolean;
  cluster?: LocalClusterOptions;
}

export class Stack {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly cluster: LocalCluster,
    readonly haproxy: HaproxyProcess,
    readonly pgrouter: PgrouterProcess | undefined,
    readonly pgrouterAuto: PgrouterProcess | undefined,
  ) {}

  static async start(opts: StackOptions): Promise<Stack> {
    const dir = scratchDir(opts.kind);
    log(`scratch dir ${dir}`);
    const cluster = await LocalCluster.start({ log: (line) => log(`cluster: ${line}`), ...(opts.tls ? { tls: 'postgresql' as const } : {}), ...(opts.cluster ?? {}) });
    // pgrouter presents the nodes' own certificate (127.0.0.1 is in it); root reads its key.
    const leaf = opts.tls ? cluster.pki?.leaves['server'] : undefined;
    let haproxy: HaproxyProcess | undefined;
    let pgrouter: PgrouterProcess | undefined;
    let pgrouterAuto: PgrouterProcess | undefined;
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
      if (opts.pgrouter) pgrouter = await startRouter('pgrouter', {});
      if (opts.pgrouterAuto) pgrouterAuto = await startRouter('pgrouter-auto', { workers: 'auto' });
    } catch (err) {
      log(`stack start failed: ${describeError(err)}; tearing down`);
      await pgrouterAuto?.stop();
      await pgrouter?.stop();
      await haproxy?.stop();
      await cluster.stop();
      throw err;
    }
    const stack = new Stack(dir, cluster, haproxy, pgrouter, pgrouterAuto);
    stack.installSignalHandlers();
    return stack;
  }

  /** Paths this stack can serve for writes, in a fixed order (rounds alternate it). */
  writePaths(wanted: readonly PathName[]): PathName[] {
    return wanted.filter((p) => this.router(p) !== undefined || (p !== 'pgrouter' && p !== 'pgrouter-auto'));
  }

  /** The pgrouter process behind a path, if the path is a pgrouter. */
  router(p: PathName): PgrouterProcess | undefined {
    return p === 'pgrouter' ? this.pgrouter : p === 'pgrouter-auto' ? this.pgrouterAuto : undefined;
  }

  /** The proxy process (HAProxy or pgrouter, whose workers are its children) behind a path. */
  proxyPid(p: PathName): number | undefined {
    return p === 'haproxy' ? this.haproxy.pid : this.router(p)?.pid;
  }

  /** The generated configs, for the result file. */
  configs(): Record<string, string> {
    const out: Record<string, string> = { haproxy: this.haproxy.configText };
    if (this.pgrouter) out.pgrouter = this.pgrouter.configText;
    if (this.pgrouterAuto) out['pgrouter-auto'] = this.pgrouterAuto.configText;
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
      case 'pgrouter':
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
      await this.pgrouterAuto?.stop();
      await this.pgrouter?.stop();
      await this.haproxy.stop();
      await this.cluster.stop();
      log(`stack stopped; configs and logs kept in ${this.dir}`);
    })();
    return this.stopping;
  }

  private installSignalHandlers(): void {
    // The cluster's own exit hook SIGKILLs Patroni/etcd; the routers are ours to kill.
    process.on('exit', () => {
      this.pgrouterAuto?.killSync();
      this.pgrouter?.killSync();
      this.haproxy.killSync();
    });
    const onSignal = (signal: NodeJS.Signals): void => {
      log(`${signal}: stopping the stack`);
      this.stop().then(
        () => process.exit(130),
        (err: unknown) => {
          log(`stop failed: ${describeError(err)}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
}
