// A single-member etcd 3.4 on free loopback ports, restartable on the same data dir
// (stopEtcd/startEtcd simulate a DCS outage).
import path from 'node:path';
import { request } from 'undici';
import { HarnessError } from './errors.js';
import { ManagedProcess, childEnv, makeOwnedDir, tailFile, unlessExited, type RunAs } from './process.js';
import { waitFor } from './wait.js';

export interface EtcdOptions {
  dir: string;
  clientPort: number;
  peerPort: number;
  /** Distinguishes this cluster's etcd in its cluster token (and in `ps`). */
  name: string;
  runAs: RunAs | undefined;
  log: (line: string) => void;
  /**
   * `--initial-cluster` for a multi-member etcd (name=peerUrl,...); default this member alone.
   * Every member of one cluster gets the same value and the same `token`.
   */
  initialCluster?: string;
  /** `--initial-cluster-token`; default `name`. */
  token?: string;
}

export class EtcdServer {
  readonly host = '127.0.0.1';
  readonly dataDir: string;
  readonly logFile: string;
  private proc: ManagedProcess | undefined;

  constructor(private readonly opts: EtcdOptions) {
    this.dataDir = path.join(opts.dir, 'data');
    this.logFile = path.join(opts.dir, 'etcd.log');
  }

  get clientPort(): number {
    return this.opts.clientPort;
  }

  get clientUrl(): string {
    return `http://${this.host}:${this.opts.clientPort}`;
  }

  get pid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  get peerUrl(): string {
    return `http://${this.host}:${this.opts.peerPort}`;
  }

  /** Starts the process and waits until it is healthy (`waitHealthy: false`: only spawns it). */
  async start(timeoutMs = 20_000, waitHealthy = true): Promise<void> {
    if (this.proc?.running) return;
    const { peerPort, name } = this.opts;
    const peerUrl = `http://${this.host}:${peerPort}`;
    makeOwnedDir(this.opts.dir, this.opts.runAs);
    this.proc = await ManagedProcess.spawn(
      'etcd',
      [
        `--name=${name}`,
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${this.clientUrl}`,
        `--advertise-client-urls=${this.clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${this.opts.initialCluster ?? `${name}=${peerUrl}`}`,
        `--initial-cluster-token=${this.opts.token ?? name}`,
        // Ignored once the data dir exists, which is what makes restarts keep the keys.
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-outputs=stderr',
      ],
      { logFile: this.logFile, env: childEnv(this.opts.dir), runAs: this.opts.runAs, cwd: this.opts.dir },
    );
    this.opts.log(`etcd started (pid ${this.proc.pid}) on ${this.clientUrl}`);
    if (!waitHealthy) return;
    try {
      await unlessExited(
        [{ proc: this.proc, what: 'etcd' }],
        (signal) =>
          waitFor(() => this.healthy(), { timeoutMs, intervalMs: 100, what: `etcd on ${this.clientUrl} to be healthy`, signal }),
      );
    } catch (err) {
      throw new HarnessError(`etcd did not start; last log lines:\n${tailFile(this.logFile, 5)}`, {
        cause: err,
      });
    }
  }

  /** etcd's own /health: true once the member has a raft leader and serves requests. */
  async healthy(): Promise<boolean> {
    const res = await request(`${this.clientUrl}/health`, { headersTimeout: 1000, bodyTimeout: 1000 });
    const body = (await res.body.json()) as { health?: string };
    return res.statusCode === 200 && body.health === 'true';
  }

  /**
   * All keys under a prefix, through etcd's v3 JSON gateway (the API Patroni's etcd3 DCS uses).
   * range_end is the prefix with its last byte incremented: the v3 idiom for "everything under".
   */
  async getPrefix(prefix: string): Promise<Array<{ key: string; value: string }>> {
    const key = Buffer.from(prefix);
    const end = Buffer.from(key);
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
    const res = await request(`${this.clientUrl}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }),
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    const body = (await res.body.json()) as { kvs?: Array<{ key: string; value?: string }> };
    if (res.statusCode !== 200) throw new HarnessError(`etcd range ${prefix}: status ${res.statusCode}`);
    return (body.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString('utf8'),
      value: Buffer.from(kv.value ?? '', 'base64').toString('utf8'),
    }));
  }

  async stop(graceMs = 5000): Promise<void> {
    if (!this.proc?.running) return;
    await this.proc.stop(graceMs);
    this.opts.log('etcd stopped');
  }

  /** For the synchronous exit hook. */
  killSync(): number | undefined {
    const pid = this.pid;
    if (pid !== undefined) this.proc?.signalGroup('SIGKILL');
    return pid;
  }
}
