// Router: wires discovery (etcd + probes → ClusterView) to the data path (listeners + sessions),
// feeds the Prometheus exporter, and implements RouterControl, what the HTTP surface (stats
// page, health, admin API) needs. It starts no HTTP server itself.
//
// This is the single-process layout; cluster mode (a later issue) moves the DataPath into
// workers and ships the same views over IPC. The data path never sees discovery itself.
import type { Config } from './config/types.js';
import type { ClusterView } from './discovery/types.js';
import type { ProbeEvent } from './discovery/prober.js';
import { Discovery } from './discovery/discovery.js';
import type { AdminState, RouterControl, SessionInfo, StatsSnapshot } from './http/types.js';
import type { Logger } from './log.js';
import { packageVersion } from './metrics/build-info.js';
import { RouterMetrics } from './metrics/router-metrics.js';
import { NO_STATE_CHANGES, nextStateChanges, type StateChanges } from './metrics/state-changes.js';
import { backendStates, buildStatsSnapshot } from './metrics/stats-snapshot.js';
import { DataPath } from './proxy/data-path.js';
import type { AdminStates } from './routing/eligible.js';
import { ClusterRouter } from './cluster/cluster-router.js';
import { resolveWorkerCount } from './cluster/supervisor.js';

export interface RouterOptions {
  /** Export process_* and nodejs_* metrics too (default true). */
  readonly processMetrics?: boolean;
  /** Clock (epoch ms). */
  readonly now?: () => number;
  /** Cluster mode: the workers' log settings (the CLI's --log-level / --log-format win over the file). */
  readonly workerLog?: { readonly level: string; readonly format: 'json' | 'pretty' };
}

const ADMIN_STATES: readonly AdminState[] = ['ready', 'drain', 'maint'];

export class Router implements RouterControl {
  /** workers > 1: discovery and the workers live here; null in the one-process layout. */
  readonly cluster: ClusterRouter | null;
  private readonly local: { readonly discovery: Discovery; readonly dataPath: DataPath } | null;
  readonly metrics: RouterMetrics;
  private cfg: Config;
  private readonly now: () => number;
  private readonly version = packageVersion();
  private readonly startedAt: number;
  private admin: AdminStates = Object.freeze({});
  private changes: StateChanges = NO_STATE_CHANGES;
  private unsubscribe: (() => void) | null = null;

  constructor(
    config: Config,
    private readonly logger: Logger,
    opts: RouterOptions = {},
  ) {
    this.cfg = config;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.metrics = new RouterMetrics({
      version: this.version,
      listeners: config.listeners,
      now: this.now,
      etcd: config.cluster.etcd !== null,
      ...(opts.processMetrics === undefined ? {} : { processMetrics: opts.processMetrics }),
    });
    const onProbe = (event: ProbeEvent): void => this.metrics.observeProbe(event);
    const workers = resolveWorkerCount(config.workers);
    if (workers > 1) {
      const cluster = new ClusterRouter(config, logger, { workers, onProbe, onView: (view) => this.onView(view), ...(opts.workerLog ? { log: opts.workerLog } : {}) });
      this.cluster = cluster;
      this.local = null;
      this.metrics.bind({ traffic: () => cluster.supervisor.traffic(), cancels: () => cluster.supervisor.cancels(), etcd: () => cluster.discovery.etcdStatus() });
    } else {
      const discovery = new Discovery({ config, logger: logger.child({ part: 'discovery' }), onProbe });
      const dataPath = new DataPath({ config, logger: logger.child({ part: 'proxy' }), now: this.now });
      this.cluster = null;
      this.local = { discovery, dataPath };
      this.metrics.bind({ traffic: () => dataPath.traffic(), cancels: () => dataPath.cancels(), etcd: () => discovery.etcdStatus() });
    }
  }

  get config(): Config {
    return this.cfg;
  }

  get discovery(): Discovery {
    return this.cluster ? this.cluster.discovery : (this.local as { discovery: Discovery }).discovery;
  }

  /** The in-process data path (workers: 1 only). */
  get dataPath(): DataPath {
    if (!this.local) throw new Error('cluster mode: the data path runs in the workers');
    return this.local.dataPath;
  }

  /** SIGHUP (cluster/reload.ts reads and validates the file). */
  async reload(config: Config): Promise<{ ok: boolean; error?: string }> {
    if (!this.cluster) return { ok: false, error: 'reload needs workers > 1 for now (one-process reload: see docs/architecture.md)' };
    const r = await this.cluster.reload(config);
    if (r.ok) this.cfg = config;
    return r;
  }

  async start(): Promise<void> {
    // Subscribe before binding so the first client already sees the freshest view; clients
    // that arrive before a primary is confirmed are held up to timeouts.connect_wait.
    if (this.cluster) return this.cluster.start();
    this.unsubscribe = this.discovery.subscribe((view) => this.onView(view));
    await this.dataPath.start();
    await this.discovery.start();
    const listeners = Object.entries(this.dataPath.addresses()).map(([name, a]) => `${name}=${a.host}:${a.port}`);
    this.logger.info({ event: 'started', listeners, mode: this.config.cluster.etcd ? 'etcd' : 'static' }, 'pgrouter started');
  }

  /** Stop accepting, let sessions drain up to graceMs (default timeouts.shutdown_grace), then close everything. */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    const graceMs = opts.graceMs ?? this.config.timeouts.shutdown_grace;
    if (this.cluster) return this.cluster.close({ graceMs });
    await this.dataPath.close({ graceMs });
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.discovery.close();
    this.logger.info({ event: 'stopped' }, 'pgrouter stopped');
  }

  // ---- RouterControl ------------------------------------------------------------------------

  view(): ClusterView {
    return this.discovery.current();
  }

  snapshot(): StatsSnapshot {
    const view = this.discovery.current();
    const addresses = this.cluster ? this.cluster.supervisor.addresses() : this.dataPath.addresses();
    const binds = Object.fromEntries(Object.entries(addresses).map(([name, a]) => [name, `${a.host}:${a.port}`]));
    return buildStatsSnapshot({
      now: this.now(),
      version: this.version,
      startedAt: this.startedAt,
      listeners: this.config.listeners,
      binds,
      view,
      etcd: this.discovery.etcdStatus() ?? view.etcd,
      traffic: this.cluster ? this.cluster.supervisor.traffic() : this.dataPath.traffic(),
      adminStates: this.admin,
      history: this.metrics.leaderHistory(),
      lastChanges: this.changes.at,
      workers: this.cluster ? this.cluster.supervisor.workerSessions() : { [String(process.pid)]: this.dataPath.sessionCount() },
    });
  }

  metricsText(): Promise<string> {
    // Cluster mode: fresh worker reports, then the primary's registry + the workers' process metrics.
    if (this.cluster) return this.cluster.supervisor.metricsText(this.metrics.register);
    return this.metrics.text();
  }

  metricsContentType(): string {
    return this.metrics.contentType();
  }

  /** Like HAProxy's `set server state`, for every listener at once; 'ready' clears it. */
  setAdminState(member: string, state: AdminState): void {
    if (member === '' || !ADMIN_STATES.includes(state)) throw new TypeError(`invalid admin state ${JSON.stringify(state)} for member ${JSON.stringify(member)}`);
    const from = this.admin[member] ?? 'ready';
    if (from === state) return;
    const next: Record<string, AdminState> = { ...this.admin };
    if (state === 'ready') delete next[member];
    else next[member] = state;
    this.admin = Object.freeze(next);
    this.logger.info({ event: 'admin_state', member, from, to: state }, `${member} admin state ${from} → ${state}`);
    if (this.cluster) this.cluster.supervisor.setAdminStates(this.admin);
    else this.dataPath.setAdminStates(this.admin);
    this.metrics.observeAdminStates(this.admin);
    this.trackStates(this.discovery.current());
  }

  adminStates(): Readonly<Record<string, AdminState>> {
    return this.admin;
  }

  killBackendSessions(member: string): number | Promise<number> {
    const log = (killed: number): number => {
      this.logger.info({ event: 'admin_kill', member, sessions: killed }, `killed ${killed} sessions on ${member}`);
      return killed;
    };
    if (this.cluster) return this.cluster.supervisor.killBackendSessions(member, 'admin').then(log);
    return log(this.dataPath.killBackendSessions(member, 'admin'));
  }

  sessions(): readonly SessionInfo[] | Promise<readonly SessionInfo[]> {
    return this.cluster ? this.cluster.supervisor.sessions() : this.dataPath.sessions();
  }

  // ---- internals ----------------------------------------------------------------------------

  private onView(view: ClusterView): void {
    // Cluster mode: ClusterRouter already sent the view to the workers.
    if (this.local) this.local.dataPath.updateView(view);
    this.metrics.observeView(view, this.now());
    this.trackStates(view);
  }

  private trackStates(view: ClusterView): void {
    this.changes = nextStateChanges(this.changes, backendStates(view, this.config.listeners, this.admin), this.now());
  }
}
