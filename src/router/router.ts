// Router: runs a data plane (one process, or workers: plane/data-plane.ts), feeds the Prometheus
// exporter with every probe and view, keeps admin states, and implements RouterControl, what
// the HTTP surface (stats page, health, admin API) needs. It starts no HTTP server itself.
// The data path never sees discovery: it gets views, in-process or over IPC.
import type { Config } from '../config/types.js';
import { hostPort } from '../config/units.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { Discovery } from '../discovery/discovery.js';
import type { AdminState, ReloadReply, RouterControl, StatsSnapshot } from '../http/types.js';
import type { SessionInfo } from '../sessions/types.js';
import type { Logger } from '../log.js';
import { packageVersion } from '../metrics/build-info.js';
import { RouterMetrics } from '../metrics/router-metrics.js';
import { NO_STATE_CHANGES, nextStateChanges, type StateChanges } from '../metrics/state-changes.js';
import { backendStates, buildStatsSnapshot } from '../metrics/stats-snapshot.js';
import type { DataPath } from '../proxy/data-path.js';
import { ADMIN_STATES, adminStateOf, adminStatesCopy, type AdminStates } from '../routing/eligible.js';
import { NO_PAUSES, pauseOf, type ListenerPause, type PausedListeners } from '../routing/pause.js';
import type { LeaderStep } from '../metrics/leader-history.js';
import { holdsForSwitchovers } from '../metrics/switchover-history.js';
import { DrainDeadlines } from './drain-deadlines.js';
import { ClusterPlane } from '../cluster/cluster-plane.js';
import { resolveWorkerCount } from '../cluster/supervisor-options.js';
import { LocalPlane } from '../plane/local-plane.js';
import type { DataPlane } from '../plane/data-plane.js';
import { describePlan, reloadFromFile } from '../plane/reload.js';

export interface RouterOptions {
  /** Export process_* and nodejs_* metrics too (default true). */
  readonly processMetrics?: boolean;
  /** Clock (epoch ms). */
  readonly now?: () => number;
  /** Cluster mode: the workers' log settings (the CLI's --log-level / --log-format win over the file). */
  readonly workerLog?: { readonly level: string; readonly format: 'json' | 'pretty' };
}

export class Router implements RouterControl {
  readonly plane: DataPlane;
  readonly metrics: RouterMetrics;
  private readonly now: () => number;
  private readonly version = packageVersion();
  private readonly startedAt: number;
  private admin: AdminStates = Object.freeze({});
  private changes: StateChanges = NO_STATE_CHANGES;
  private paused: PausedListeners = NO_PAUSES;
  private readonly drains: DrainDeadlines;

  constructor(
    config: Config,
    private readonly logger: Logger,
    opts: RouterOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.metrics = new RouterMetrics({
      version: this.version,
      now: this.now,
      etcd: config.cluster.etcd !== null,
      ...(opts.processMetrics === undefined ? {} : { processMetrics: opts.processMetrics }),
    });
    const hooks = {
      onProbe: this.metrics.observeProbe.bind(this.metrics),
      onView: (view: ClusterView) => this.onView(view),
      onDiscoveryError: this.metrics.observeDiscoveryError.bind(this.metrics),
    };
    const workers = resolveWorkerCount(config.workers);
    this.plane =
      workers > 1
        ? new ClusterPlane(config, logger, { workers, ...hooks, ...(opts.workerLog ? { log: opts.workerLog } : {}) })
        : new LocalPlane(config, logger, { ...hooks, now: this.now });
    this.drains = new DrainDeadlines((member) => void this.drainDeadlinePassed(member), this.now);
    this.metrics.bind({
      paused: () => this.paused,
      listeners: () => this.config.listeners.map((l) => l.name),
      traffic: () => this.plane.traffic(),
      workerRespawns: () => this.plane.workerRespawns(),
      relayEngines: () => this.plane.relayEngines(),
      etcd: () => this.plane.discovery.etcdStatus(),
      tlsCertExpiry: () => this.plane.tlsCertExpiry(),
    });
  }

  /** The running config: the plane owns it (DataPlane.config). */
  get config(): Config {
    return this.plane.config;
  }

  get discovery(): Discovery {
    return this.plane.discovery;
  }

  /** The in-process data path (workers: 1 only; tests read its counters). */
  get dataPath(): DataPath {
    if (!(this.plane instanceof LocalPlane)) throw new Error('cluster mode: the data path runs in the workers');
    return this.plane.dataPath;
  }

  /**
   * SIGHUP and POST /admin/reload: the reload use case (plane/reload.ts) on `file`, answered in
   * the HTTP surface's terms. Never throws.
   */
  async reloadFile(file: string, env: NodeJS.ProcessEnv): Promise<ReloadReply> {
    const outcome = await reloadFromFile(this, file, env, this.logger);
    return outcome.ok ? { ok: true, changes: describePlan(outcome.plan), restartNeeded: outcome.plan.restartNeeded } : outcome;
  }

  /** Applies a validated config (plane/reload.ts reads and validates the file). */
  async reload(config: Config): Promise<{ ok: boolean; error?: string }> {
    const r = await this.plane.reload(config);
    if (r.ok) {
      // Added or removed listeners get (or lose) their backend series at once.
      this.refreshStates(this.discovery.current());
      // A pause goes with its listener.
      const gone = Object.keys(this.paused).filter((name) => !this.listenerNames().includes(name));
      for (const name of gone) this.resumeListener(name);
    }
    return r;
  }

  start(): Promise<void> {
    return this.plane.start();
  }

  /** Stop accepting, let sessions drain up to graceMs (default timeouts.shutdown_grace), then close everything. */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.drains.close();
    return this.plane.close({ graceMs: opts.graceMs ?? this.config.timeouts.shutdown_grace });
  }

  // ---- RouterControl ------------------------------------------------------------------------

  view(): ClusterView {
    return this.discovery.current();
  }

  snapshot(): StatsSnapshot {
    const view = this.discovery.current();
    const binds = Object.fromEntries(Object.entries(this.plane.addresses()).map(([name, a]) => [name, hostPort(a.host, a.port)]));
    return buildStatsSnapshot({
      now: this.now(),
      version: this.version,
      startedAt: this.startedAt,
      listeners: this.config.listeners,
      binds,
      view,
      etcd: this.discovery.etcdStatus() ?? view.etcd,
      traffic: this.plane.traffic(),
      adminStates: this.admin,
      history: this.metrics.leaderHistory(),
      lastChanges: this.changes.at,
      workers: this.plane.workerSessions(),
      relay: this.plane.relayEngines(),
      paused: this.paused,
      drainDeadlines: this.drains.deadlines(),
    });
  }

  metricsText(): Promise<string> {
    return this.plane.metricsText(this.metrics.register);
  }

  metricsContentType(): string {
    return this.metrics.contentType();
  }

  /**
   * Like HAProxy's `set server state`, for every listener at once; 'ready' clears it. Any call
   * cancels the member's drain deadline; `timeoutMs` (drain only) arms a new one (issue 13).
   */
  setAdminState(member: string, state: AdminState, opts: { readonly timeoutMs?: number } = {}): void {
    if (member === '' || !ADMIN_STATES.includes(state)) throw new TypeError(`invalid admin state ${JSON.stringify(state)} for member ${JSON.stringify(member)}`);
    if (opts.timeoutMs !== undefined && state !== 'drain') throw new TypeError(`a timeout only applies to drain, not ${state}`);
    if (this.drains.cancel(member)) this.logger.info({ event: 'drain_deadline_cancelled', member, state }, `${member}: drain deadline cancelled`);
    if (opts.timeoutMs !== undefined) {
      const at = this.drains.set(member, opts.timeoutMs);
      this.logger.info({ event: 'drain_deadline', member, timeout_ms: opts.timeoutMs, at }, `${member}: sessions left after ${opts.timeoutMs} ms of drain will be closed`);
    }
    const from = adminStateOf(this.admin, member);
    if (from === state) return;
    const next = adminStatesCopy(this.admin);
    if (state === 'ready') delete next[member];
    else next[member] = state;
    this.admin = Object.freeze(next);
    this.logger.info({ event: 'admin_state', member, from, to: state }, `${member} admin state ${from} → ${state}`);
    this.plane.setAdminStates(this.admin);
    this.refreshStates(this.discovery.current());
  }

  adminStates(): Readonly<Record<string, AdminState>> {
    return this.admin;
  }

  /** The admin API's kill; a drain deadline kills through the plane itself (drainDeadlinePassed). */
  async killBackendSessions(member: string): Promise<number> {
    const killed = await this.plane.killBackendSessions(member, 'admin');
    this.logger.info({ event: 'admin_kill', member, sessions: killed }, `killed ${killed} sessions on ${member}`);
    return killed;
  }

  drainDeadlines(): Readonly<Record<string, number>> {
    return this.drains.deadlines();
  }

  listenerNames(): readonly string[] {
    return this.config.listeners.map((l) => l.name);
  }

  /** Issue 13: new clients of `name` are held (up to holdMs, default connect_wait) until resumeListener. */
  pauseListener(name: string, holdMs?: number): ListenerPause {
    if (!this.listenerNames().includes(name)) throw new TypeError(`no listener named ${JSON.stringify(name)}`);
    const hold_ms = holdMs ?? this.config.timeouts.connect_wait;
    // Pausing again changes the hold limit; the pause keeps its start.
    const pause = Object.freeze({ since: pauseOf(this.paused, name)?.since ?? this.now(), hold_ms });
    this.setPaused({ ...this.paused, [name]: pause });
    this.logger.info({ event: 'listener_paused', listener: name, hold_ms }, `listener ${name} paused: new clients wait up to ${hold_ms} ms`);
    return pause;
  }

  resumeListener(name: string): ListenerPause | null {
    const pause = pauseOf(this.paused, name);
    if (pause === null) return null;
    const next: Record<string, ListenerPause> = { ...this.paused };
    delete next[name];
    this.setPaused(next);
    const pausedMs = Math.max(0, this.now() - pause.since);
    this.logger.info({ event: 'listener_resumed', listener: name, paused_ms: pausedMs }, `listener ${name} resumed after ${pausedMs} ms`);
    return pause;
  }

  pausedListeners(): PausedListeners {
    return this.paused;
  }

  private setPaused(next: PausedListeners): void {
    this.paused = Object.freeze(next);
    this.plane.setPausedListeners(this.paused);
  }

  private async drainDeadlinePassed(member: string): Promise<void> {
    try {
      const killed = await this.plane.killBackendSessions(member, 'drain_timeout');
      this.logger.info({ event: 'drain_timeout', member, sessions: killed }, `${member}: drain deadline passed, closed ${killed} remaining sessions`);
    } catch (err) {
      this.logger.error({ event: 'drain_timeout_failed', member, err: String(err) }, `${member}: could not close the sessions left after the drain deadline`);
    }
  }

  sessions(): Promise<readonly SessionInfo[]> {
    return this.plane.sessions();
  }

  // ---- internals ----------------------------------------------------------------------------

  private onView(view: ClusterView): void {
    // The plane has already handed the view to the data path (in-process or workers).
    // The held count is only read around a switchover: summing the traffic on every view is not free.
    const holds = holdsForSwitchovers(this.config.listeners);
    const tracking = (this.metrics.leaderHistory().switchover ?? null) !== null;
    const counting = tracking || (holds && (view.switchover ?? null) !== null);
    const step = this.metrics.observeView(view, this.now(), counting ? this.heldOnPrimaryListeners() : 0, holds);
    if (step) this.logSwitchover(step);
    this.refreshStates(view);
  }

  /** Clients ever held on the primary listeners (counts the clients a switchover held). */
  private heldOnPrimaryListeners(): number {
    const traffic = this.plane.traffic();
    return this.config.listeners.filter((l) => l.role === 'primary').reduce((n, l) => n + (traffic[l.name]?.held_total ?? 0), 0);
  }

  private logSwitchover(step: LeaderStep): void {
    const s = step.switchoverStarted;
    if (s) this.logger.info({ event: 'switchover_hold_start', from: s.from, to: s.to, since: s.since }, `switchover from ${s.from}: new RW sessions wait for the new leader`);
    const e = step.switchoverEnded;
    const outcome = step.switchoverOutcome;
    if (e && outcome) {
      this.logger.info(
        { event: 'switchover_hold_end', outcome, to: e.to, held_ms: e.held_ms, held_clients: e.held_clients, outage_ms: e.outage_ms },
        `switchover ${outcome}: ${e.held_clients ?? 0} clients held for ${e.held_ms ?? 0} ms, now on ${e.to ?? 'none'}`,
      );
    }
  }

  /** Backend states, computed once for the stats page's "last change" and the metrics' gauges. */
  private refreshStates(view: ClusterView): void {
    const { listeners } = this.config;
    const states = backendStates(view, listeners, this.admin, this.now());
    this.changes = nextStateChanges(this.changes, states, this.now());
    this.metrics.observeBackendStates(listeners.map((l) => l.name), view, states);
  }
}
