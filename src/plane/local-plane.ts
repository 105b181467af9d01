// workers: 1 — Discovery and one DataPath in this process (the sidecar default: no IPC hop,
// one process's memory). The same DataPath runs inside each worker in cluster mode.
import type { Config, HostPort } from '../config/types.js';
import { hostPort } from '../config/units.js';
import { Discovery } from '../discovery/discovery.js';
import type { ListenerTraffic, RelayReport, SessionInfo } from '../sessions/types.js';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';
import type { DataPlane, PlaneHooks } from './data-plane.js';
import { DataPath } from '../proxy/data-path.js';
import type { AdminStates } from '../routing/eligible.js';
import type { PausedListeners } from '../routing/pause.js';
import type { KillReason } from '../routing/kill.js';
import { replacementBase, settleReplacement } from './settle.js';
import { discoveryKey } from './view-feed.js';
import { describeError } from '../errors.js';

export class LocalPlane implements DataPlane {
  readonly dataPath: DataPath;
  private current: Discovery;
  private unsubscribe: () => void = () => undefined;
  private cfg: Config;
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(
    config: Config,
    private readonly logger: Logger,
    private readonly hooks: PlaneHooks & { readonly now?: () => number } = {},
  ) {
    this.cfg = config;
    this.current = this.newDiscovery(config, 0);
    this.dataPath = new DataPath({ config, logger: logger.child({ part: 'proxy' }), ...(hooks.now ? { now: hooks.now } : {}) });
  }

  get config(): Config {
    return this.cfg;
  }

  get discovery(): Discovery {
    return this.current;
  }

  async start(): Promise<void> {
    // Subscribe before binding so the first client already sees the freshest view; clients
    // that arrive before a primary is confirmed are held up to timeouts.connect_wait.
    this.follow(this.current);
    await this.dataPath.start();
    await this.current.start();
    const listeners = Object.entries(this.dataPath.addresses()).map(([name, a]) => `${name}=${hostPort(a.host, a.port)}`);
    const relay = this.dataPath.relay.report().engine;
    this.logger.info({ event: 'started', listeners, workers: 1, relay, mode: this.cfg.cluster.etcd ? 'etcd' : 'static' }, 'pgrouter started');
  }

  async close(opts: { graceMs?: number }): Promise<void> {
    await this.reloading;
    await this.dataPath.close(opts);
    this.unsubscribe();
    await this.current.close();
    this.logger.info({ event: 'stopped' }, 'pgrouter stopped');
  }

  /** Reloads run one at a time. */
  reload(next: Config): Promise<{ ok: boolean; error?: string }> {
    const run = this.reloading.then(() => this.applyReload(next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  addresses(): Record<string, HostPort> {
    return this.dataPath.addresses();
  }

  traffic(): Record<string, ListenerTraffic> {
    return this.dataPath.traffic();
  }

  tlsCertExpiry(): Record<string, number> {
    return this.dataPath.tlsCertExpiry();
  }

  workerRespawns(): number {
    return 0;
  }

  workerSessions(): Record<string, number> {
    return { [String(process.pid)]: this.dataPath.sessionCount() };
  }

  relayEngines(): Record<string, RelayReport> {
    return { [String(process.pid)]: this.dataPath.relay.report() };
  }

  setAdminStates(states: AdminStates): void {
    this.dataPath.setAdminStates(states);
  }

  setPausedListeners(paused: PausedListeners): void {
    this.dataPath.setPausedListeners(paused);
  }

  killBackendSessions(member: string, reason: KillReason): Promise<number> {
    return Promise.resolve(this.dataPath.killBackendSessions(member, reason));
  }

  sessions(): Promise<SessionInfo[]> {
    return Promise.resolve(this.dataPath.sessions());
  }

  metricsText(primary: Registry): Promise<string> {
    return primary.metrics();
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * A changed cluster/checks/max_lag needs a new Discovery. It takes over only once it agrees
   * with the running one (same confirmed primary, the same members up on /replica, /sync and
   * /read-only: view-feed.ts discoverySettled); after one probe cycle without that the reload
   * is refused: switching to a Discovery that knows nothing yet would kill every session as
   * "not primary".
   * The listeners are reconfigured in place (DataPath.reconfigure), so established sessions and
   * unchanged listening sockets survive.
   */
  private async applyReload(next: Config): Promise<{ ok: boolean; error?: string }> {
    const old = this.current;
    let fresh: Discovery | null = null;
    if (discoveryKey(next) !== discoveryKey(this.cfg)) {
      fresh = this.newDiscovery(next, replacementBase(old));
      const refused = await settleReplacement(fresh, old, next, this.logger);
      if (refused !== null) {
        await fresh.close();
        return { ok: false, error: refused };
      }
    }
    try {
      await this.dataPath.reconfigure(next);
    } catch (err) {
      if (fresh) await fresh.close();
      return { ok: false, error: describeError(err) };
    }
    if (fresh) {
      this.current = fresh;
      this.follow(fresh);
      await old.close();
    }
    this.cfg = next;
    return { ok: true };
  }

  private newDiscovery(config: Config, generationBase: number): Discovery {
    return new Discovery({
      config,
      logger: this.logger.child({ part: 'discovery' }),
      generationBase,
      ...(this.hooks.onProbe ? { onProbe: this.hooks.onProbe } : {}),
      ...(this.hooks.onDiscoveryError ? { onCallbackError: this.hooks.onDiscoveryError } : {}),
    });
  }

  private follow(discovery: Discovery): void {
    this.unsubscribe();
    this.unsubscribe = discovery.subscribe((view) => {
      this.dataPath.updateView(view);
      this.hooks.onView?.(view);
    });
    // A replacement Discovery has settled: hand its current view over at once.
    const view = discovery.current();
    if (view.generation > 0) {
      this.dataPath.updateView(view);
      this.hooks.onView?.(view);
    }
  }
}
