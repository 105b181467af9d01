// The primary side of cluster mode: forks the data-path workers (node:cluster), feeds them
// views and admin states, shares their cancel keys, answers router-wide questions by asking
// all of them, and reloads by starting a new cohort of workers and draining the old one.
//
// Scheduling: node:cluster's round robin (SCHED_RR, Node's default on Linux). The primary
// accepts and hands each connection to a worker over IPC; that is one extra hop per *new*
// connection and none per byte, next to the backend's own connect and authentication. In
// exchange clients are spread evenly, which matters for long-lived pooled sessions, while
// SCHED_NONE leaves the choice to the kernel's wake-ups (Node's docs report 70 % of the
// connections on 2 of 8 processes). docs/architecture.md has the measurements.
//
// Listening sockets belong to the primary (keyed by address and port) for as long as any
// worker listens on them. So a reload's new cohort binds the same ports while the old cohort
// still holds them, and a removed listener's socket closes when its last old worker stops.
// Its options and the start-up defaults (worker count, module, flags) are in supervisor-options.ts.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import type { ClusterView } from '../view/cluster-view.js';
import { emptyView } from '../view/cluster-view.js';
import type { ListenerTraffic, RelayReport, SessionInfo } from '../sessions/types.js';
import type { Logger } from '../log.js';
import { adminStatesCopy, type AdminStates } from '../routing/eligible.js';
import { NO_PAUSES, type PausedListeners } from '../routing/pause.js';
import type { KillReason } from '../routing/kill.js';
import { mergeTraffic, retiredTraffic, sumTrees, type TrafficByListener } from './aggregate.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { CancelKeyMap } from './cancel-key-map.js';
import { parseToPrimary, type ToPrimaryMessage } from './ipc-messages.js';
import { DEFAULT_HEARTBEAT, resolveWorkerCount, setupWorkers, type SupervisorOptions } from './supervisor-options.js';
import type { WorkerInfo, WorkerReport } from './types.js';
import { WorkerCohort } from './worker-cohort.js';
import { earliestCertExpiry, relayByPid, sessionsByPid } from './worker-reports.js';
import type { WorkerHandle } from './worker-handle.js';

export interface SupervisorStats {
  readonly generation: number;
  readonly workers: number;
  readonly draining: number;
  readonly crashes: number;
  readonly invalidMessages: number;
  readonly cancelKeys: { readonly size: number; readonly evicted: number };
  readonly cancelLookups: Readonly<Record<'found' | 'unknown', number>>;
}

export class WorkerSupervisor {
  private readonly logger: Logger;
  private readonly keys: CancelKeyMap;
  private readonly queryTimeoutMs: number;
  private readonly now: () => number;
  private current: WorkerCohort;
  /** A reload's new cohort while it starts: it already gets views and admin states. */
  private starting: WorkerCohort | null = null;
  private readonly draining = new Set<WorkerCohort>();
  private admin: AdminStates = Object.freeze({});
  private paused: PausedListeners = NO_PAUSES;
  private retired: TrafficByListener = {};
  private generation = 1;
  private crashesBefore = 0;
  private invalid = 0;
  private lookups = { found: 0, unknown: 0 };
  private poll: NodeJS.Timeout | null = null;
  private beat: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.logger = opts.logger;
    this.keys = new CancelKeyMap(opts.maxCancelKeys);
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 2_000;
    this.now = opts.now ?? Date.now;
    this.current = this.cohort(opts.config, emptyView(opts.config.cluster.scope, opts.config.cluster.etcd ? 'etcd' : 'static'));
  }

  /** Forks the workers and resolves once every one has bound its listeners. */
  async start(initialView?: ClusterView): Promise<void> {
    if (!cluster.isPrimary) throw new Error('WorkerSupervisor runs in the primary process only');
    setupWorkers(this.opts);
    if (initialView) this.current.updateView(initialView);
    try {
      await this.current.start();
    } catch (err) {
      await this.current.close(0);
      throw err;
    }
    const interval = this.opts.pollIntervalMs ?? 1_000;
    if (interval > 0) {
      this.poll = setInterval(() => void this.refresh(), interval);
      this.poll.unref();
    }
    // Workers stop accepting when this stops (a stuck primary, a broken channel): issue 10.
    this.beat = setInterval(() => {
      for (const c of this.cohorts()) c.heartbeat();
    }, (this.opts.heartbeat ?? DEFAULT_HEARTBEAT).intervalMs);
    this.beat.unref();
    this.logger.info({ event: 'workers_started', workers: this.current.workers().length, generation: this.generation }, 'data-path workers ready');
  }

  /**
   * The config the current generation of workers was started with: fixed per generation (a
   * reload starts a new one). The running config is the plane's (DataPlane.config).
   */
  get config(): Config {
    return this.current.config;
  }

  /** Every view goes to every cohort unless `generations` names the ones it is for (reload). */
  updateView(view: ClusterView, generations?: ReadonlySet<number>): void {
    for (const c of this.cohorts()) if (!generations || generations.has(c.generation)) c.updateView(view);
  }

  setAdminStates(states: AdminStates): void {
    this.admin = Object.freeze(adminStatesCopy(states));
    for (const c of this.cohorts()) c.setAdminStates(this.admin);
  }

  /** Every worker, and every worker started later (its init carries them), holds these listeners' new clients. */
  setPausedListeners(paused: PausedListeners): void {
    this.paused = Object.freeze({ ...paused });
    for (const c of this.cohorts()) c.setPausedListeners(this.paused);
  }

  /** Closes every session on `member` in every worker; resolves with how many were closed. */
  async killBackendSessions(member: string, reason: KillReason = 'admin'): Promise<number> {
    const answers = await this.ask((h) => h.request({ type: 'kill_backend', member, reason }, this.queryTimeoutMs));
    return answers.reduce<number>((n, a) => n + (typeof a.data === 'number' ? a.data : 0), 0);
  }

  /** Asks every serving worker; workers that fail or time out are left out (and logged). */
  async query(what: 'stats' | 'sessions' | 'metrics'): Promise<Array<{ worker: number; data: unknown }>> {
    return this.ask((h) => h.request({ type: 'query', what }, this.queryTimeoutMs));
  }

  /** Refreshes every worker's report (stats, traffic, cancels); the sync getters read them. */
  async refresh(): Promise<void> {
    const byId = new Map(this.handles().map((h) => [h.id, h]));
    for (const a of await this.query('stats')) {
      const h = byId.get(a.worker);
      if (h) h.report = a.data as WorkerReport;
    }
  }

  /** Router-wide traffic per listener: the workers' last reports plus what exited workers counted. */
  traffic(): Record<string, ListenerTraffic> {
    return mergeTraffic([this.retired, ...this.reports().map((r) => r.traffic)]);
  }

  /** The serving generation's certificates by listener (worker-reports.ts). */
  tlsCertExpiry(): Record<string, number> {
    return earliestCertExpiry(this.current.workers().map((h) => h.report));
  }

  workerSessions(): Record<string, number> {
    return sessionsByPid(this.reports());
  }

  relayEngines(): Record<string, RelayReport> {
    return relayByPid(this.reports());
  }

  /** Bound addresses by listener name, as the current generation reported them. */
  addresses(): Record<string, { host: string; port: number }> {
    const r = this.current.workers().find((h) => h.report)?.report;
    return r ? { ...r.addresses } : Object.fromEntries(this.current.config.listeners.map((l) => [l.name, l.bind]));
  }

  async sessions(): Promise<SessionInfo[]> {
    return (await this.query('sessions')).flatMap((a) => a.data as SessionInfo[]);
  }

  /**
   * Primary metrics (its registry, e.g. RouterMetrics.register, sampling the merged traffic)
   * plus every worker's process_* / nodejs_* metrics, combined by prom-client's aggregators
   * (sums for counters and memory; see docs/architecture.md).
   */
  async metricsText(primary?: Registry): Promise<string> {
    // Both round trips at once: the primary's registry samples the refreshed reports.
    const [, workers] = await Promise.all([this.refresh(), this.query('metrics')]);
    const parts: object[] = [];
    if (primary) parts.push(await primary.getMetricsAsJSON());
    for (const a of workers) parts.push(a.data as object);
    return AggregatorRegistry.aggregate(parts).metrics();
  }

  workers(): WorkerInfo[] {
    return this.handles().map((h) => h.info());
  }

  stats(): SupervisorStats {
    return {
      generation: this.generation,
      workers: this.current.workers().length,
      draining: [...this.draining].reduce((n, c) => n + c.workers().length, 0),
      crashes: this.crashesBefore + [...this.cohorts()].reduce((n, c) => n + c.crashes, 0),
      invalidMessages: this.invalid,
      cancelKeys: this.keys.stats(),
      cancelLookups: { ...this.lookups },
    };
  }

  /**
   * Starts a new generation of workers with `config` (fed `view` first) and, once every one
   * is bound, drains the old generation: it stops accepting and keeps its sessions, with views
   * still applied to them, until the last one ends. If the new generation cannot start (a port
   * taken, a worker crashing), it is stopped and the old one keeps running untouched.
   */
  async reload(config: Config, view: ClusterView): Promise<{ ok: true; generation: number } | { ok: false; error: string }> {
    if (this.closed) return { ok: false, error: 'supervisor is closed' };
    if (this.starting) return { ok: false, error: 'another reload is in progress' };
    // The relay engine is chosen once, like the worker count: a reload's workers keep the first one.
    const next = this.cohort({ ...config, relay: this.current.config.relay }, view, this.nextGeneration());
    this.starting = next;
    try {
      await next.start();
    } catch (err) {
      await next.close(0);
      this.starting = null;
      const error = err instanceof Error ? err.message : String(err);
      this.logger.error({ event: 'reload_failed', error }, 'reload failed: the new workers did not start, the running ones are kept');
      return { ok: false, error };
    }
    const old = this.current;
    this.starting = null;
    this.generation++;
    this.current = next;
    this.draining.add(old);
    void old.drain(config.timeouts.reload_drain).then(() => {
      this.crashesBefore += old.crashes;
      this.draining.delete(old);
      this.logger.info({ event: 'generation_retired', generation: old.generation }, `generation ${old.generation} drained`);
      this.opts.onRetired?.(old.generation);
    });
    this.logger.info({ event: 'reloaded', generation: next.generation, workers: next.workers().length }, 'new workers ready, old ones draining');
    return { ok: true, generation: next.generation };
  }

  /** The generation the next reload will start (views for it may be routed before it exists). */
  nextGeneration(): number {
    return this.generation + 1;
  }

  /** Generations still running or draining (a view source per generation may be needed). */
  generations(): Set<number> {
    return new Set([...this.cohorts()].map((c) => c.generation));
  }

  /** Stops every worker: sessions drain up to graceMs (default timeouts.shutdown_grace). */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    if (this.beat) clearInterval(this.beat);
    this.beat = null;
    const graceMs = opts.graceMs ?? this.current.config.timeouts.shutdown_grace;
    await Promise.all([...this.cohorts()].map((c) => c.close(graceMs)));
  }

  private cohort(config: Config, view: ClusterView, generation = 1): WorkerCohort {
    return new WorkerCohort({
      generation,
      config,
      count: this.opts.workers ?? resolveWorkerCount(config.workers),
      logger: this.logger,
      log: this.opts.log ?? config.log,
      view,
      adminStates: () => this.admin,
      pausedListeners: () => this.paused,
      backoff: this.opts.backoff ?? DEFAULT_BACKOFF,
      startTimeoutMs: this.opts.startTimeoutMs ?? 30_000,
      killMarginMs: 5_000,
      heartbeat: this.opts.heartbeat ?? DEFAULT_HEARTBEAT,
      fork: (env) => this.fork(env),
      now: this.now,
      parse: (h, raw) => this.parse(h, raw),
      onMessage: (h, m) => this.onMessage(h, m),
      onExit: (h) => this.onExit(h),
    });
  }

  private fork(env: Record<string, string>): Worker {
    return cluster.fork(env);
  }

  private parse(h: WorkerHandle, raw: unknown): ToPrimaryMessage | null {
    const parsed = parseToPrimary(raw);
    if (parsed.kind === 'message') return parsed.message;
    if (parsed.kind === 'invalid') {
      this.invalid++;
      this.logger.warn({ event: 'ipc_invalid', worker: h.id, reason: parsed.reason }, 'dropped a malformed message from a worker');
    }
    return null;
  }

  private onMessage(h: WorkerHandle, m: ToPrimaryMessage): void {
    switch (m.type) {
      case 'cancel_key': {
        const real = m.realPid !== undefined && m.realKey !== undefined ? { real: { pid: m.realPid, key: Buffer.from(m.realKey, 'base64') } } : {};
        return this.keys.set(m.pid, Buffer.from(m.key, 'base64'), { host: m.backendHost, port: m.backendPort, workerId: h.id, sessionId: m.sessionId, ...real });
      }
      case 'cancel_key_gone':
        return this.keys.delete(m.pid, Buffer.from(m.key, 'base64'), h.id);
      case 'cancel_lookup': {
        const owner = this.keys.get(m.pid, Buffer.from(m.key, 'base64'));
        this.lookups[owner ? 'found' : 'unknown']++;
        const real = owner?.real ? { pid: owner.real.pid >>> 0, key: owner.real.key.toString('base64') } : {};
        return h.send({ type: 'cancel_owner', requestId: m.requestId, owner: owner ? { host: owner.host, port: owner.port, ...real } : null });
      }
      default:
        this.logger.warn({ event: 'ipc_unexpected', worker: h.id, type: m.type }, 'unexpected message from a worker');
    }
  }

  private onExit(h: WorkerHandle): void {
    this.keys.dropWorker(h.id);
    // Its counters stay in the totals (aggregate.ts): a crash must not make a counter go back.
    if (h.report) {
      this.retired = sumTrees(this.retired as Record<string, ListenerTraffic>, retiredTraffic(h.report.traffic));
    }
  }

  private *cohorts(): Iterable<WorkerCohort> {
    yield this.current;
    if (this.starting) yield this.starting;
    yield* this.draining;
  }

  private handles(): WorkerHandle[] {
    return [...this.cohorts()].flatMap((c) => c.workers());
  }

  private reports(): WorkerReport[] {
    return this.handles().flatMap((h) => (h.report ? [h.report] : []));
  }

  private async ask(fn: (h: WorkerHandle) => Promise<unknown>): Promise<Array<{ worker: number; data: unknown }>> {
    const serving = this.handles().filter((h) => h.serving);
    const settled = await Promise.allSettled(serving.map((h) => fn(h)));
    const out: Array<{ worker: number; data: unknown }> = [];
    settled.forEach((s, i) => {
      const h = serving[i];
      if (!h) return;
      if (s.status === 'fulfilled') out.push({ worker: h.id, data: s.value });
      else this.logger.warn({ event: 'worker_query_failed', worker: h.id, err: String(s.reason) }, 'a worker did not answer');
    });
    return out;
  }
}
