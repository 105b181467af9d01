// A real local HA cluster for integration tests, benchmarks and the demo: one etcd 3.4 member
// and N Patroni 3.0.2 + PostgreSQL 15 nodes, all on free loopback ports under one fresh temp
// dir, with a unique scope so concurrent runs never share keys.
//
// Cleanup: stop() tears everything down. If the process exits without it, an 'exit' hook
// SIGKILLs what is left, and a watchdog handles death by signal (see teardown.ts).
// SIGINT/SIGTERM handlers are the caller's job: install one that calls stop() if needed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../../src/errors.js';
import { HarnessError } from './errors.js';
import { EtcdServer } from './etcd.js';
import { firstMembers, leaderOf, streamingReplicas, writableLeader } from './health.js';
import { resolveOptions, type LocalClusterOptions, type ResolvedOptions } from './options.js';
import { patroniConfigYaml } from './patroni-config.js';
import { PatroniNode, type ClusterNode } from './patroni-node.js';
import { registerRestTls, unregisterRestTls, type MemberStatus } from './patroni-rest.js';
import { RestGate } from './rest-gate.js';
import { chownPki, makePki, type Pki } from './pki.js';
import { findFreePorts } from './ports.js';
import { childEnv, runAsIdentity, runCommand, tailFile, unlessExited, type RunAs } from './process.js';
import { Watchdog, registerForExit, unregisterForExit } from './teardown.js';
import { waitFor } from './wait.js';

export { findFreePort } from './ports.js';
export { waitFor, within } from './wait.js';
export type { LocalClusterOptions } from './options.js';
export type { ClusterNode } from './patroni-node.js';
export type { MemberStatus } from './patroni-rest.js';
export type { RestGate } from './rest-gate.js';

export class LocalCluster {
  readonly scope: string;
  readonly namespace: string;
  /** The cluster's own temp dir: etcd/, node1/ (patroni.yml, patroni.log, data/), ... */
  readonly baseDir: string;
  readonly nodes: readonly ClusterNode[];
  private readonly etcd: EtcdServer;
  private readonly patroni: ReadonlyMap<string, PatroniNode>;
  /** With `restGate`: the TCP gate in front of each node's REST API, by node name. */
  private readonly gates = new Map<string, RestGate>();
  private readonly watchdog: Watchdog;
  private stopping: Promise<void> | undefined;
  /**
   * With `tls`: the cluster's CA (`ca`), the server certificate every node uses for PostgreSQL
   * and its REST API (`leaves.server`, for 127.0.0.1 and localhost), and a client certificate
   * (`leaves.client`) the REST APIs accept. null without `tls`.
   */
  readonly pki: Pki | null;

  private constructor(
    private readonly opts: ResolvedOptions,
    private readonly runAs: RunAs | undefined,
    ports: number[],
  ) {
    this.scope = opts.scope;
    this.namespace = opts.namespace;
    this.baseDir = fs.mkdtempSync(path.join(opts.baseDir ?? os.tmpdir(), `${opts.scope}-`));
    if (runAs) fs.chownSync(this.baseDir, runAs.uid, runAs.gid);
    const [clientPort = 0, peerPort = 0] = ports;
    this.etcd = new EtcdServer({ dir: path.join(this.baseDir, 'etcd'), clientPort, peerPort, name: opts.scope, runAs, log: opts.log });
    this.pki = opts.tls ? this.makePki(runAs) : null;
    const nodes = new Map<string, PatroniNode>();
    const scheme = opts.tls === true ? 'https' : 'http';
    for (let i = 0; i < opts.nodes; i++) {
      const name = `node${i + 1}`;
      nodes.set(name, new PatroniNode(this.baseDir, name, ports[2 + 2 * i] ?? 0, ports[3 + 2 * i] ?? 0, runAs, opts.log, scheme));
      if (opts.restGate) this.gates.set(name, new RestGate(ports[2 + 2 * opts.nodes + i] ?? 0, ports[3 + 2 * i] ?? 0));
    }
    this.patroni = nodes;
    this.nodes = Object.freeze([...nodes.values()].map((n) => n.info));
    this.watchdog = Watchdog.start(this.baseDir, opts.log);
    registerForExit(this);
  }

  private makePki(runAs: RunAs | undefined): Pki {
    const pki = makePki(path.join(this.baseDir, 'pki'), [
      { name: 'server', kind: 'server', sans: ['127.0.0.1', 'localhost'] },
      { name: 'client', kind: 'client' },
    ]);
    if (runAs) chownPki(pki, runAs.uid, runAs.gid);
    return pki;
  }

  /** The server leaf every node presents; the client leaf the harness itself presents. */
  private nodeTls(): { ca: string; cert: string; key: string } | null {
    const server = this.pki?.leaves.server;
    return this.pki && server ? { ca: this.pki.ca, cert: server.cert, key: server.key } : null;
  }

  get etcdHost(): string {
    return this.etcd.host;
  }

  get etcdPort(): number {
    return this.etcd.clientPort;
  }

  /**
   * Resolves once there is 1 writable leader (node1) and nodes-1 streaming replicas. On failure
   * it tears down and rejects with the tail of every log. A port grabbed by someone else between
   * our probe and the bind ("address already in use") gets one retry on fresh ports.
   */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const opts = resolveOptions(options);
    const runAs = runAsIdentity();
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      const cluster = new LocalCluster(opts, runAs, await findFreePorts(2 + (opts.restGate ? 3 : 2) * opts.nodes));
      try {
        await cluster.boot();
        opts.log(`cluster ${opts.scope} healthy in ${Date.now() - started} ms (base dir ${cluster.baseDir})`);
        return cluster;
      } catch (err) {
        const logs = cluster.logTails(15);
        await cluster.stop().catch((stopErr: unknown) => opts.log(`teardown after failed start: ${describeError(stopErr)}`));
        if (attempt === 1 && /address already in use/i.test(logs)) {
          opts.log(`cluster ${opts.scope}: a port was taken during start, retrying on fresh ports`);
          continue;
        }
        throw new HarnessError(`local cluster ${opts.scope} did not start: ${describeError(err)}\n${logs}`, {
          cause: err,
        });
      }
    }
  }

  private async boot(): Promise<void> {
    await this.etcd.start();
    for (const gate of this.gates.values()) await gate.start();
    const timings = { ttl: this.opts.ttl, loopWait: this.opts.loopWait, retryTimeout: this.opts.retryTimeout };
    for (const node of this.patroni.values()) {
      const { pgPort, apiPort, dataDir } = node.info;
      node.writeConfig(
        patroniConfigYaml({
          ...{ scope: this.scope, namespace: this.namespace, name: node.name, pgPort, apiPort, dataDir, timings },
          ...{ etcdHost: this.etcd.host, etcdPort: this.etcd.clientPort, nodeDir: node.dir, maxConnections: this.opts.maxConnections },
          ...{ tls: this.nodeTls(), restConnectPort: this.gates.get(node.name)?.port, synchronousMode: this.opts.synchronousMode },
          ...{ restTls: this.opts.tls === true, scramUser: this.opts.scram?.user ?? null },
        }),
      );
    }
    const client = this.pki?.leaves.client;
    if (this.pki && client && this.opts.tls === true) {
      const read = (f: string) => fs.readFileSync(f, 'utf8');
      registerRestTls(this.nodes.map((n) => n.apiUrl), { ca: read(this.pki.ca), cert: read(client.cert), key: read(client.key) });
    }
    // node1 goes first and takes the initialize key, so it is the first leader on every run;
    // the others start while it runs initdb and clone it (pg_basebackup) once it is up.
    const [first, ...rest] = [...this.patroni.values()];
    if (!first) throw new HarnessError('a cluster needs at least one node');
    await first.start();
    const initKey = `${this.namespace}${this.scope}/initialize`;
    await this.unlessPatroniExits((signal) =>
      waitFor(async () => (await this.etcd.getPrefix(initKey)).length > 0, { timeoutMs: 30_000, what: `${first.name} to take ${initKey}`, signal }),
    );
    await Promise.all(rest.map((n) => n.start()));
    await this.unlessPatroniExits((signal) => this.waitForHealthy({ timeoutMs: this.opts.startTimeoutMs, signal }));
    const scram = this.opts.scram;
    if (scram) {
      // password_encryption is scram-sha-256 by default (PostgreSQL 14+); replicas get the role by replication.
      const password = scram.password.replaceAll("'", "''");
      await this.psql(first.name, `create role ${scram.user} login password '${password}'`);
    }
  }

  /** During boot a Patroni that exits (bad config, port taken) fails the start at once. */
  private unlessPatroniExits<T>(wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const procs = [...this.patroni.values()].flatMap((n) => (n.process ? [{ proc: n.process, what: `patroni ${n.name}` }] : []));
    return unlessExited(procs, wait);
  }

  node(name: string): ClusterNode {
    return this.patroniNode(name).info;
  }

  private patroniNode(name: string): PatroniNode {
    const node = this.patroni.get(name);
    if (!node) throw new HarnessError(`no node named ${name} (have ${[...this.patroni.keys()].join(', ')})`);
    return node;
  }

  private readonly apiUrlOf = (name: string): string => this.node(name).apiUrl;

  /** The gate in front of a node's REST API; its port is the node's advertised api_url port. */
  restGate(name: string): RestGate {
    const gate = this.gates.get(name);
    if (!gate) throw new HarnessError(`no REST gate for ${name} (start the cluster with restGate: true)`);
    return gate;
  }

  /** SIGSTOP/SIGCONT (or any signal) to the node's Patroni process alone; its PostgreSQL keeps running. */
  signalPatroni(name: string, signal: NodeJS.Signals): number {
    return this.patroniNode(name).signalPatroni(signal);
  }

  /** Members from Patroni's GET /cluster of the first running node whose REST API answers. */
  async members(): Promise<MemberStatus[]> {
    return firstMembers([...this.patroni.values()].filter((n) => n.running).map((n) => n.info.apiUrl));
  }

  /** The leader per /cluster (it may still be promoting; waitForLeader waits until it is writable). */
  async leader(): Promise<string> {
    const leader = leaderOf(await this.members());
    if (!leader) throw new HarnessError(`cluster ${this.scope} has no leader`);
    return leader;
  }

  /** 1 writable leader and `replicas` (default nodes-1) running replicas streaming from it. */
  async waitForHealthy(opts: { timeoutMs?: number; replicas?: number; signal?: AbortSignal } = {}): Promise<void> {
    const want = opts.replicas ?? this.opts.nodes - 1;
    let seen = 'nothing';
    const what = `1 leader + ${want} streaming replicas`;
    await waitFor(
      async () => {
        const members = await this.members();
        const leader = await writableLeader(members, this.apiUrlOf);
        if (!leader) return false;
        const streaming = await streamingReplicas(leader, members, this.apiUrlOf);
        seen = `leader ${leader}, streaming: ${streaming.join(', ') || 'none'}`;
        return streaming.length >= want;
      },
      { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 200, what, ...(opts.signal ? { signal: opts.signal } : {}) },
    ).catch((err: unknown) => {
      throw new HarnessError(`${describeError(err)}; last seen: ${seen}`, { cause: err });
    });
  }

  /** Resolves with the first writable leader for which `predicate` holds. */
  async waitForLeader(predicate: (name: string) => boolean, timeoutMs = 60_000): Promise<string> {
    return waitFor(
      async () => {
        const name = await writableLeader(await this.members(), this.apiUrlOf);
        return name !== undefined && predicate(name) ? name : undefined;
      },
      { timeoutMs, intervalMs: 100, what: 'a writable leader matching the predicate' },
    );
  }

  /**
   * patronictl switchover to `candidate` (default: first running replica by name); resolves once
   * the candidate is a writable leader. The old leader and the other replicas are still
   * re-attaching at that point: call waitForHealthy() before crashing the new leader, or a
   * replica that never followed it may be promoted onto a colliding timeline id (seen here: both
   * on "TL 2", the crashed node then waits forever for WAL the new leader will never have).
   */
  async switchover(candidate?: string): Promise<{ from: string; to: string }> {
    const members = await this.members();
    const from = leaderOf(members);
    if (!from) throw new HarnessError('switchover: no leader');
    const to = candidate ?? members.find((m) => m.name !== from && m.state === 'running')?.name;
    if (!to || to === from) throw new HarnessError(`switchover: no usable candidate (got ${to ?? 'none'})`);
    await this.patronictl(['switchover', '--leader', from, '--candidate', to, '--force']);
    await this.waitForLeader((name) => name === to, 60_000);
    this.opts.log(`switchover ${from} -> ${to} done`);
    return { from, to };
  }

  /** kill -9 of the node's Patroni and its postmaster (with its backends). */
  async crash(name: string): Promise<void> {
    await this.patroniNode(name).crash();
  }

  /** Starts Patroni again for a crashed or stopped node (same config, data dir and ports). */
  async restart(name: string): Promise<void> {
    await this.patroniNode(name).start();
  }

  /** SIGTERM to Patroni, which stops PostgreSQL and releases its keys; waits for both to exit. */
  async stopNode(name: string): Promise<void> {
    await this.patroniNode(name).stop();
  }

  async pause(): Promise<void> {
    await this.patronictl(['pause', '--wait']);
  }

  async resume(): Promise<void> {
    await this.patronictl(['resume', '--wait']);
  }

  async stopEtcd(): Promise<void> {
    await this.etcd.stop();
  }

  /** Same data dir and ports, so every key (with its lease) is still there. */
  async startEtcd(): Promise<void> {
    await this.etcd.start();
  }

  /** Raw etcd v3 keys under a prefix (default this cluster's `<namespace><scope>/`). */
  async etcdKeys(prefix = `${this.namespace}${this.scope}/`): Promise<Array<{ key: string; value: string }>> {
    return this.etcd.getPrefix(prefix);
  }

  /** Runs patronictl as postgres with node1's config; returns stdout. */
  async patronictl(args: string[]): Promise<string> {
    const config = this.nodes[0]?.configFile ?? '';
    const opts = { env: childEnv(this.baseDir), runAs: this.runAs, cwd: this.baseDir, timeoutMs: 90_000 };
    return (await runCommand('patronictl', ['-c', config, ...args], opts)).stdout;
  }

  /** A shell command a person can paste to switch over (the demo prints it). */
  switchoverCommand(): string {
    const prefix = this.runAs ? 'runuser -u postgres -- ' : '';
    return `${prefix}patronictl -c ${this.nodes[0]?.configFile ?? ''} switchover --force`;
  }

  /** psql -At as postgres against one node; returns trimmed stdout; rejects on any SQL error. */
  async psql(name: string, sql: string): Promise<string> {
    const { host, pgPort } = this.node(name);
    const args = ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(pgPort), '-U', 'postgres', '-d', 'postgres', '-c', sql];
    const opts = { env: childEnv(this.baseDir), runAs: this.runAs, cwd: this.baseDir, timeoutMs: 30_000 };
    return (await runCommand('psql', args, opts)).stdout.trim();
  }

  connectionString(name: string, db = 'postgres'): string {
    const { host, pgPort } = this.node(name);
    return `postgresql://postgres@${host}:${pgPort}/${encodeURIComponent(db)}`;
  }

  /** Every pid the cluster currently runs (Patroni, postmasters, etcd); for tests and diagnostics. */
  pids(): number[] {
    const pids: number[] = [];
    for (const node of this.patroni.values()) {
      if (node.patroniPid !== undefined) pids.push(node.patroniPid);
      const pm = node.postmasterPid();
      if (pm !== undefined) pids.push(pm);
    }
    if (this.etcd.pid !== undefined) pids.push(this.etcd.pid);
    return pids;
  }

  /** The last lines of every log, for error messages. */
  logTails(lines: number): string {
    const parts = [`--- etcd (${this.etcd.logFile})\n${tailFile(this.etcd.logFile, lines)}`];
    for (const node of this.patroni.values()) parts.push(`--- ${node.name} (${node.logFile})\n${tailFile(node.logFile, lines)}`);
    return parts.join('\n');
  }

  /** Stops Patroni nodes (SIGTERM, SIGKILL after a deadline, postmasters too), then etcd; removes the base dir. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    const started = Date.now();
    const results = await Promise.allSettled([...this.patroni.values()].map((n) => n.stop(10_000)));
    await this.etcd.stop();
    for (const gate of this.gates.values()) await gate.stop();
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      // Keep the base dir and the exit hook: the logs explain the failure, the hook still kills.
      throw new HarnessError(`stop: ${failed.map((r) => describeError(r.reason)).join('; ')}`);
    }
    this.watchdog.stop();
    unregisterForExit(this);
    unregisterRestTls(this.nodes.map((n) => n.apiUrl));
    // PGR_HARNESS_KEEP=1 keeps data dirs and logs for a post-mortem.
    if (process.env.PGR_HARNESS_KEEP === '1') this.opts.log(`keeping ${this.baseDir} (PGR_HARNESS_KEEP=1)`);
    else fs.rmSync(this.baseDir, { recursive: true, force: true });
    this.opts.log(`cluster ${this.scope} stopped in ${Date.now() - started} ms`);
  }

  /** Exit-hook path: SIGKILL everything now, synchronously. */
  killSync(): string {
    const pids = [...this.patroni.values()].flatMap((n) => n.killSync());
    const etcdPid = this.etcd.killSync();
    if (etcdPid !== undefined) pids.push(etcdPid);
    return `cluster ${this.scope}: SIGKILL sent to ${pids.join(', ') || 'no live pids'}; base dir ${this.baseDir} left for the watchdog`;
  }
}
