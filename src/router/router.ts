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
    this.metrics.bind({
      listeners: () => this.config.listeners.map((l) => l.name),
      traffic: () => this.plane.traffic(),
      etcd: () => this.plane.discovery.etcdStatus(),
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
    }
    return r;
  }

  start(): Promise<void> {
    return this.plane.start();
  }

  /** Stop accepting, let sessions drain up to graceMs (default timeouts.shutdown_grace), then close everything. */
  close(opts: { graceMs?: number } = {}): Promise<void> {
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
    });
  }

  metricsText(): Promise<string> {
    return this.plane.metricsText(this.metrics.register);
  }

  metricsContentType(): string {
    return this.metrics.contentType();
  }

  /** Like HAProxy's `set server state`, for every listener at once; 'ready' clears it. */
  setAdminState(member: string, state: AdminState): void {
    if (member === '' || !ADMIN_STATES.includes(state)) throw new TypeError(`invalid admin state ${JSON.stringify(state)} for member ${JSON.stringify(member)}`);
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

  async killBackendSessions(member: string): Promise<number> {
    const killed = await this.plane.killBackendSessions(member, 'admin');
    this.logger.info({ event: 'admin_kill', member, sessions: killed }, `killed ${killed} sessions on ${member}`);
    return killed;
  }

  sessions(): Promise<readonly SessionInfo[]> {
    return this.plane.sessions();
  }

  // ---- internals ----------------------------------------------------------------------------

  private onView(view: ClusterView): void {
    // The plane has already handed the view to the data path (in-process or workers).
    this.metrics.observeView(view, this.now());
    this.refreshStates(view);
  }

  /** Backend states, computed once for the stats page's "last change" and the metrics' gauges. */
  private refreshStates(view: ClusterView): void {
    const { listeners } = this.config;
    const states = backendStates(view, listeners, this.admin);
    this.changes = nextStateChanges(this.changes, states, this.now());
    this.metrics.observeBackendStates(listeners.map((l) => l.name), view, states);
  }
}
