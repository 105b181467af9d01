// One generation of workers: N processes running the same config. A reload starts a new cohort
// and drains the old one; a crash inside a running cohort is replaced in the same slot after a
// backoff (backoff.ts), and the other workers never notice.
//
//   cohort:  starting ──all ready──► running ──drain()──► draining ──last exit──► gone
//                 └──a worker fails──► start() rejects     └──close()──► stopping ──► gone
import type { Worker } from 'node:cluster';
import type { Config } from '../config/types.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { Logger } from '../log.js';
import type { AdminStates } from '../routing/eligible.js';
import type { PausedListeners } from '../routing/pause.js';
import { NO_CRASHES, respawnDelay, type BackoffPolicy, type CrashSeries } from './backoff.js';
import type { ToPrimaryMessage } from './ipc-messages.js';
import { newerView } from '../plane/view-feed.js';
import { WorkerHandle } from './worker-handle.js';

export interface CohortOptions {
  readonly generation: number;
  readonly config: Config;
  readonly count: number;
  readonly logger: Logger;
  /** Log settings for the workers (the primary's, after command-line overrides). */
  readonly log: { readonly level: string; readonly format: 'json' | 'pretty' };
  readonly view: ClusterView;
  /** The router-wide admin states at the time a worker starts. */
  adminStates(): AdminStates;
  /** The paused listeners at the time a worker starts: it starts paused too. */
  pausedListeners(): PausedListeners;
  readonly backoff: BackoffPolicy;
  readonly startTimeoutMs: number;
  /** How long past graceMs a stopping worker may take before it is killed. */
  readonly killMarginMs: number;
  fork(env: Record<string, string>): Worker;
  now(): number;
  /** The primary's heartbeat period and how many missed ones make a worker's view stale. */
  readonly heartbeat: { readonly intervalMs: number; readonly missed: number };
  /** Messages that are not about the worker's lifecycle (cancel keys, lookups). */
  onMessage(handle: WorkerHandle, message: ToPrimaryMessage): void;
  /** A worker of this cohort exited, for whatever reason. */
  onExit(handle: WorkerHandle): void;
  /** Drops a malformed message (and counts it). */
  parse(handle: WorkerHandle, raw: unknown): ToPrimaryMessage | null;
}

export type CohortState = 'starting' | 'running' | 'draining' | 'stopping' | 'gone';

/**
 * The config a worker gets: secrets it never uses (etcd password and TLS material, the probes'
 * client key, the admin
 * token) stay in the primary. DataPath only needs listeners, timeouts and the mode.
 */
export function workerConfig(config: Config): Config {
  const etcd = config.cluster.etcd ? { ...config.cluster.etcd, password: null, tls: null } : null;
  return { ...config, cluster: { ...config.cluster, etcd }, checks: { ...config.checks, tls: null }, admin: { ...config.admin, token: null } };
}

export class WorkerCohort {
  state: CohortState = 'starting';
  /** Crashes since start (each was respawned). */
  crashes = 0;
  private readonly handles = new Map<number, WorkerHandle>();
  private readonly series: CrashSeries[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private view: ClusterView;
  private starting: { resolve: () => void; reject: (err: Error) => void; timer: NodeJS.Timeout } | null = null;
  private lastStartError: string | null = null;
  private goneWaiters: Array<() => void> = [];
  /** Epoch ms by which a stopping cohort's workers close their sessions. */
  private closeBy = Number.POSITIVE_INFINITY;
  private killTimer: NodeJS.Timeout | null = null;
  /** timeouts.reload_drain of the reload that drains this cohort. */
  private drainDeadlineMs = 0;

  constructor(private readonly opts: CohortOptions) {
    this.view = opts.view;
    this.series = Array.from({ length: opts.count }, () => NO_CRASHES);
  }

  get generation(): number {
    return this.opts.generation;
  }

  get config(): Config {
    return this.opts.config;
  }

  workers(): WorkerHandle[] {
    return [...this.handles.values()];
  }

  /** Forks every worker; resolves when all are bound, rejects when one fails or on timeout. */
  start(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.failStart(`not every worker was ready within ${this.opts.startTimeoutMs} ms`), this.opts.startTimeoutMs);
      this.starting = { resolve, reject, timer };
    });
    for (let slot = 0; slot < this.opts.count; slot++) this.fork(slot);
    return done;
  }

  /** Keeps the newest view and sends it to every worker that got its init. */
  updateView(view: ClusterView): void {
    const next = newerView(this.view, view);
    if (next === this.view) return;
    this.view = next;
    for (const h of this.handles.values()) if (h.initSent) h.send({ type: 'view', view: next });
  }

  /** Tells every accepting worker the primary is alive and which view is the newest. */
  heartbeat(): void {
    for (const h of this.handles.values()) if (h.initSent && h.state === 'ready') h.send({ type: 'heartbeat', generation: this.view.generation });
  }

  setAdminStates(states: AdminStates): void {
    for (const h of this.handles.values()) if (h.initSent) h.send({ type: 'admin_states', states });
  }

  setPausedListeners(paused: PausedListeners): void {
    for (const h of this.handles.values()) if (h.initSent) h.send({ type: 'paused_listeners', paused });
  }

  /**
   * Reload: the workers stop accepting and keep their sessions; resolves when the last exited.
   * At `deadlineMs` (timeouts.reload_drain) the workers close what they still relay and exit;
   * one that has not exited killMarginMs later is killed.
   */
  drain(deadlineMs: number): Promise<void> {
    if (this.state === 'starting' || this.state === 'running') {
      this.state = 'draining';
      this.drainDeadlineMs = deadlineMs;
      this.clearTimers();
      for (const h of this.handles.values()) {
        if (h.state === 'starting') this.killNow(h);
        else if (h.state === 'ready') {
          h.state = 'draining';
          h.send({ type: 'drain', deadlineMs });
        }
      }
      const backstop = setTimeout(() => {
        for (const h of this.handles.values()) {
          this.opts.logger.warn({ event: 'worker_kill', worker: h.id, pid: h.pid }, 'old worker still running after the reload drain deadline, killing it');
          this.killNow(h);
        }
      }, deadlineMs + this.opts.killMarginMs);
      void this.whenGone().then(() => clearTimeout(backstop));
    }
    return this.whenGone();
  }

  /**
   * Shutdown: every worker closes its sessions after graceMs; stragglers are killed. A second
   * close with a shorter grace (the operator's second SIGTERM: "close all sessions now")
   * shortens it in every worker and moves the kill deadline closer (issue 10, defect 5).
   */
  close(graceMs: number): Promise<void> {
    if (this.state === 'gone') return this.whenGone();
    const at = this.opts.now() + graceMs;
    if (this.state === 'stopping' && at >= this.closeBy) return this.whenGone();
    this.state = 'stopping';
    this.closeBy = at;
    this.clearTimers();
    if (this.starting) this.failStart('the cohort was closed while starting');
    for (const h of this.handles.values()) {
      if (h.state === 'starting') this.killNow(h);
      else {
        h.state = 'stopping';
        h.send({ type: 'shutdown', graceMs });
      }
    }
    if (this.killTimer) clearTimeout(this.killTimer);
    const deadline = setTimeout(() => {
      for (const h of this.handles.values()) {
        this.opts.logger.warn({ event: 'worker_kill', worker: h.id, pid: h.pid }, 'worker did not exit after the grace period, killing it');
        this.killNow(h);
      }
    }, graceMs + this.opts.killMarginMs);
    this.killTimer = deadline;
    void this.whenGone().then(() => clearTimeout(deadline));
    return this.whenGone();
  }

  private whenGone(): Promise<void> {
    if (this.handles.size === 0 && this.state !== 'starting' && this.state !== 'running') {
      this.state = 'gone';
      return Promise.resolve();
    }
    return new Promise((resolve) => this.goneWaiters.push(resolve));
  }

  private fork(slot: number): void {
    const { opts } = this;
    const worker = opts.fork({ PGROUTER_WORKER_SLOT: String(slot), PGROUTER_WORKER_GENERATION: String(opts.generation) });
    const h = new WorkerHandle(worker, slot, opts.generation, opts.logger, opts.now());
    this.handles.set(h.id, h);
    worker.on('message', (raw: unknown) => {
      const m = opts.parse(h, raw);
      if (m) this.onMessage(h, m);
    });
    worker.on('error', (err: Error) => opts.logger.warn({ event: 'worker_error', worker: h.id, err: err.message }, 'worker channel error'));
    worker.on('exit', (code: number | null, signal: string | null) => this.onExit(h, code, signal));
  }

  private onMessage(h: WorkerHandle, m: ToPrimaryMessage): void {
    switch (m.type) {
      case 'hello':
        h.initSent = true;
        h.send({
          type: 'init',
          generation: this.opts.generation,
          config: workerConfig(this.opts.config),
          view: this.view,
          admin: this.opts.adminStates(),
          paused: this.opts.pausedListeners(),
          log: this.opts.log,
          heartbeat: this.opts.heartbeat,
        });
        return;
      case 'ready':
        if (h.state !== 'starting') return;
        h.state = 'ready';
        this.opts.logger.info({ event: 'worker_ready', worker: h.id, pid: h.pid, slot: h.slot, generation: h.generation }, 'worker ready');
        // Drained or closed while it was binding: tell it now.
        if (this.state === 'draining') {
          h.state = 'draining';
          h.send({ type: 'drain', deadlineMs: this.drainDeadlineMs });
        }
        if (this.starting && [...this.handles.values()].every((x) => x.state === 'ready')) {
          clearTimeout(this.starting.timer);
          this.starting.resolve();
          this.starting = null;
          this.state = 'running';
        }
        return;
      case 'start_failed':
        this.lastStartError = m.error;
        this.opts.logger.error({ event: 'worker_start_failed', worker: h.id, error: m.error, code: m.code }, 'worker could not start');
        return;
      case 'reply':
        return h.settle(m.requestId, m.ok ? { ok: true, data: m.data } : { ok: false, error: m.error });
      default:
        return this.opts.onMessage(h, m);
    }
  }

  private onExit(h: WorkerHandle, code: number | null, signal: string | null): void {
    this.handles.delete(h.id);
    h.failAll();
    this.opts.onExit(h);
    const log = { worker: h.id, pid: h.pid, slot: h.slot, generation: h.generation, code, signal };
    if (this.state === 'starting') {
      this.failStart(`worker ${h.id} exited (${signal ?? `code ${String(code)}`}) before it was ready${this.lastStartError ? `: ${this.lastStartError}` : ''}`);
    } else if (this.state === 'running') {
      this.crashes++;
      const lived = this.opts.now() - h.startedAt;
      const decision = respawnDelay(this.series[h.slot] ?? NO_CRASHES, lived, this.opts.backoff);
      this.series[h.slot] = decision.series;
      this.opts.logger.error(
        { event: 'worker_crashed', ...log, lived_ms: lived, restart_in_ms: decision.delayMs, crashes_in_a_row: decision.series.crashes },
        `worker ${h.id} died, restarting in ${decision.delayMs} ms`,
      );
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.state === 'running') this.fork(h.slot);
      }, decision.delayMs);
      this.timers.add(timer);
    } else {
      this.opts.logger.info({ event: 'worker_exited', ...log }, 'worker exited');
    }
    if (this.handles.size === 0 && (this.state === 'draining' || this.state === 'stopping')) {
      this.state = 'gone';
      const waiters = this.goneWaiters;
      this.goneWaiters = [];
      for (const w of waiters) w();
    }
  }

  private failStart(reason: string): void {
    const s = this.starting;
    if (!s) return;
    this.starting = null;
    clearTimeout(s.timer);
    s.reject(new Error(`generation ${this.opts.generation}: ${reason}`));
  }

  private killNow(h: WorkerHandle): void {
    if (h.worker.process.exitCode === null && h.worker.process.signalCode === null) h.worker.process.kill('SIGKILL');
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
