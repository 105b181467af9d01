// The multi-process data plane (workers > 1), cluster mode's primary: Discovery (etcd + probes)
// → views → WorkerSupervisor → workers. The twin of plane/local-plane.ts; the Router runs one or
// the other behind the DataPlane interface (plane/data-plane.ts).
//
// Views per generation: each worker generation is fed by the Discovery built from its config.
// A reload that keeps cluster/checks/max_lag shares the running Discovery; one that changes
// them starts a new Discovery for the new generation and keeps the old one for the draining
// generation, so old sessions are still judged (killed on failover) by the checks they were
// routed with: a max_lag change must not make every old RO session look "marked down".
import type { Config } from '../config/types.js';
import { hostPort } from '../config/units.js';
import { Discovery } from '../discovery/discovery.js';
import type { ProbeEvent } from '../discovery/prober.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { Logger } from '../log.js';
import type { ListenerTraffic, RelayReport, SessionInfo } from '../sessions/types.js';
import type { Registry } from 'prom-client';
import type { DataPlane, PlaneHooks } from '../plane/data-plane.js';
import type { AdminStates } from '../routing/eligible.js';
import type { PausedListeners } from '../routing/pause.js';
import type { KillReason } from '../routing/kill.js';
import { planReload, type ReloadPlan } from '../plane/reload.js';
import { WorkerSupervisor } from './supervisor.js';
import type { SupervisorOptions } from './supervisor-options.js';
import { replacementBase, settleReplacement } from '../plane/settle.js';
import { discoveryKey } from '../plane/view-feed.js';

export interface ClusterPlaneOptions extends Omit<SupervisorOptions, 'config' | 'logger' | 'onRetired'> {
  /** Every probe of every Discovery (RouterMetrics.observeProbe). */
  readonly onProbe?: (event: ProbeEvent) => void;
  /** Every view of the current generation's Discovery (RouterMetrics.observeView, state changes). */
  readonly onView?: (view: ClusterView) => void;
  /** A discovery callback threw and was caught (RouterMetrics.observeDiscoveryError). */
  readonly onDiscoveryError?: PlaneHooks['onDiscoveryError'];
}

interface Feed {
  readonly discovery: Discovery;
  readonly key: string;
  /** Worker generations this Discovery's views go to. */
  readonly generations: Set<number>;
  unsubscribe: () => void;
}

export class ClusterPlane implements DataPlane {
  readonly supervisor: WorkerSupervisor;
  private feeds: Feed[] = [];
  private cfg: Config;
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(
    config: Config,
    private readonly logger: Logger,
    private readonly opts: ClusterPlaneOptions = {},
  ) {
    this.cfg = config;
    this.supervisor = new WorkerSupervisor({
      ...opts,
      config,
      logger: logger.child({ part: 'cluster' }),
      onRetired: (generation) => this.retire(generation),
    });
    this.feeds.push(this.feed(config, 1));
  }

  get config(): Config {
    return this.cfg;
  }

  /** The Discovery of the current generation (the one /stats and /ready should read). */
  get discovery(): Discovery {
    const f = this.feeds[this.feeds.length - 1];
    if (!f) throw new Error('no discovery');
    return f.discovery;
  }

  async start(): Promise<void> {
    // Both at once: workers get whatever view exists when they say hello, and every later one.
    const feed = this.feeds[0];
    await Promise.all([this.supervisor.start(feed?.discovery.current()), feed?.discovery.start()]);
    const listeners = Object.entries(this.supervisor.addresses()).map(([name, a]) => `${name}=${hostPort(a.host, a.port)}`);
    this.logger.info({ event: 'started', listeners, workers: this.supervisor.workers().length, mode: this.cfg.cluster.etcd ? 'etcd' : 'static' }, 'pgrouter started');
  }

  /** Applies a validated config (reload.ts reads and validates it); reloads run one at a time. */
  reload(next: Config): Promise<{ ok: boolean; error?: string; plan?: ReloadPlan }> {
    const run = this.reloading.then(() => this.applyReload(next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  async close(opts: { graceMs?: number } = {}): Promise<void> {
    await this.reloading;
    await this.supervisor.close(opts);
    for (const f of this.feeds) f.unsubscribe();
    await Promise.all(this.feeds.map((f) => f.discovery.close()));
    this.feeds = [];
    this.logger.info({ event: 'stopped' }, 'pgrouter stopped');
  }

  private async applyReload(next: Config): Promise<{ ok: boolean; error?: string; plan: ReloadPlan }> {
    const plan = planReload(this.cfg, next);
    if (!plan.dataPath && !plan.discovery) {
      // Only the HTTP surface or logging changed: the routes read theirs per request, the rest
      // waits for a restart (ReloadPlan.restartNeeded).
      this.cfg = next;
      return { ok: true, plan };
    }
    const generation = this.supervisor.nextGeneration();
    const current = this.feeds[this.feeds.length - 1];
    if (!current) return { ok: false, error: 'router is closed', plan };
    let feed = current;
    let fresh: Feed | null = null;
    if (discoveryKey(next) !== current.key) {
      fresh = this.feed(next, generation, replacementBase(current.discovery));
      const refused = await settleReplacement(fresh.discovery, current.discovery, next, this.logger);
      if (refused !== null) {
        await this.dropFeed(fresh);
        return { ok: false, error: refused, plan };
      }
      feed = fresh;
    } else {
      feed.generations.add(generation);
    }
    const result = await this.supervisor.reload(next, feed.discovery.current());
    if (!result.ok) {
      feed.generations.delete(generation);
      if (fresh) await this.dropFeed(fresh);
      return { ok: false, error: result.error, plan };
    }
    if (fresh) this.feeds.push(fresh);
    this.cfg = next;
    // The metrics followed the old Discovery while the new one settled, and a Discovery
    // publishes only changes: hand its view over now (LocalPlane.follow does the same).
    if (fresh) this.opts.onView?.(fresh.discovery.current());
    return { ok: true, plan };
  }

  /** `generationBase`: a reload's Discovery numbers its views after the running one's (settle.ts). */
  private feed(config: Config, generation: number, generationBase = 0): Feed {
    const { onProbe, onView, onDiscoveryError } = this.opts;
    const discovery = new Discovery({
      config,
      logger: this.logger.child({ part: 'discovery', generation }),
      generationBase,
      ...(onProbe ? { onProbe } : {}),
      ...(onDiscoveryError ? { onCallbackError: onDiscoveryError } : {}),
    });
    const generations = new Set([generation]);
    const f: Feed = { discovery, key: discoveryKey(config), generations, unsubscribe: () => undefined };
    f.unsubscribe = discovery.subscribe((view) => {
      this.supervisor.updateView(view, generations);
      // The stats page and metrics follow the newest generation's Discovery only.
      if (onView && f === this.feeds[this.feeds.length - 1]) onView(view);
    });
    return f;
  }

  /** A drained generation is gone: a Discovery that fed only retired generations stops. */
  private retire(generation: number): void {
    const last = this.feeds[this.feeds.length - 1];
    for (const f of this.feeds) {
      f.generations.delete(generation);
      if (f !== last && f.generations.size === 0) void this.dropFeed(f);
    }
  }

  private async dropFeed(f: Feed): Promise<void> {
    this.feeds = this.feeds.filter((x) => x !== f);
    f.unsubscribe();
    try {
      await f.discovery.close();
    } catch (err) {
      this.logger.warn({ event: 'discovery_close_failed', err: String(err) }, 'error while closing a retired discovery');
    }
  }

  // ---- DataPlane: the supervisor answers for all workers --------------------------------------

  addresses(): Record<string, { host: string; port: number }> {
    return this.supervisor.addresses();
  }

  traffic(): Record<string, ListenerTraffic> {
    return this.supervisor.traffic();
  }

  workerRespawns(): number {
    return this.supervisor.stats().crashes;
  }

  workerSessions(): Record<string, number> {
    return this.supervisor.workerSessions();
  }

  relayEngines(): Record<string, RelayReport> {
    return this.supervisor.relayEngines();
  }

  tlsCertExpiry(): Record<string, number> {
    return this.supervisor.tlsCertExpiry();
  }

  setAdminStates(states: AdminStates): void {
    this.supervisor.setAdminStates(states);
  }

  setPausedListeners(paused: PausedListeners): void {
    this.supervisor.setPausedListeners(paused);
  }

  killBackendSessions(member: string, reason: KillReason): Promise<number> {
    return this.supervisor.killBackendSessions(member, reason);
  }

  sessions(): Promise<SessionInfo[]> {
    return this.supervisor.sessions();
  }

  /** Fresh worker reports, then the primary's registry plus the workers' process metrics. */
  metricsText(primary: Registry): Promise<string> {
    return this.supervisor.metricsText(primary);
  }

  /** For tests and the stats page: the view the current generation routes with. */
  view(): ClusterView {
    return this.discovery.current();
  }
}
