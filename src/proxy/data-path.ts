// The data path: all listeners, the session registry, and the current ClusterView. It gets its
// listeners and timeouts (DataPathConfig) and views, nothing else, so the same class runs
// in-process or inside cluster workers (views then arrive over IPC). It imports the view
// contract (src/view), never discovery (the lint enforces it), nor config loading.
import type { Config, ListenerConfig, TimeoutsConfig } from '../config/types.js';
import { emptyView, type ClusterView } from '../view/cluster-view.js';
import { PgrError } from '../errors.js';
import type { EndReason } from '../sessions/close-reason.js';
import type { ListenerTraffic, SessionInfo } from '../sessions/types.js';
import type { Logger } from '../log.js';
import { adminStatesCopy, type AdminStates } from '../routing/eligible.js';
import { NO_PAUSES, pauseOf, type PausedListeners } from '../routing/pause.js';
import type { KillReason } from '../routing/kill.js';
import { SessionRegistry, sessionInfo, type CancelKeyObserver } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import { cancelState, type CancelState } from './cancel-keys.js';
import type { CancelOwner } from './cancel-request.js';
import { chooseRelayEngine, type RelayChoice } from '../relay/select-engine.js';
import { bindAll } from './bind-all.js';
import { within } from './within.js';
import { checkListenerTls, Listener } from './listener.js';
import { planListenerChanges } from './listener-plan.js';

/**
 * Cluster mode (src/cluster/worker.ts): cancel keys shared between worker processes. A
 * CancelRequest lands on any worker; the one relaying the session may be another.
 */
export interface CancelKeyHooks extends CancelKeyObserver {
  /** The owner of a key no session here has, or null (then the cancel is broadcast or dropped). */
  lookup(pid: number, key: Buffer): Promise<CancelOwner | null>;
}

/** What the data path runs with: listeners, timeouts, cancel settings, the cluster's scope and mode, the relay (fixed at start). */
export type DataPathConfig = Pick<Config, 'cluster' | 'listeners' | 'timeouts' | 'cancel' | 'relay'>;

export interface DataPathOptions {
  readonly config: DataPathConfig;
  readonly logger: Logger;
  /** Cluster mode only; in one process the registry knows every key. */
  readonly cancelKeys?: CancelKeyHooks;
  /** Clock (epoch ms); tests may pass their own. */
  readonly now?: () => number;
  /** Randomness for `balance: random`. */
  readonly random?: () => number;
  /** What relays the bytes after the startup phase; default the one config.relay picks. */
  readonly relay?: RelayChoice['engine'];
  /** The worker slot, named in the cancel keys it makes (cancel.rewrite_keys); 0 in one process. */
  readonly slot?: number;
}

/** What DataPath.reconfigure did, by listener name (see planListenerChanges). */
export interface ReconfigureResult {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly kept: string[];
}

/** How long closed sessions may take to report their end before close() gives up on them. */
const CLOSED_WAIT_MS = 5_000;
export class DataPath {
  /** The timeouts of the last config applied (the listeners keep their own settings). */
  private timeouts: TimeoutsConfig;
  private readonly logger: Logger;
  private readonly registry: SessionRegistry;
  /** The cancel settings, the cap on outgoing cancel connections, the key maker (issue 10). */
  private cancel: CancelState;
  /** The configured listeners, in config order; they accept. */
  private listeners: Listener[];
  /**
   * Listeners a reload removed (or moved to another bind): no longer accepting, still relaying
   * their established sessions, and forgotten when the last one ends.
   */
  private readonly retired = new Set<Listener>();
  private view: ClusterView;
  private admin: AdminStates = Object.freeze({});
  private paused: PausedListeners = NO_PAUSES;
  private sessionSeq = 0;
  private readonly now: () => number;
  private readonly random: () => number;
  readonly relay: RelayChoice;
  private readonly hooks: CancelKeyHooks | undefined;
  /** Reloads run one after another: each plans against the config the previous one left. */
  private reconfiguring: Promise<unknown> = Promise.resolve();
  private closing = false;

  constructor(opts: DataPathOptions) {
    this.timeouts = opts.config.timeouts;
    this.logger = opts.logger;
    this.view = emptyView(opts.config.cluster.scope, opts.config.cluster.etcd ? 'etcd' : 'static');
    const hooks = opts.cancelKeys;
    this.hooks = hooks;
    this.registry = new SessionRegistry({ listeners: opts.config.listeners, logger: opts.logger, ...(hooks ? { cancelKeys: hooks } : {}) });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.relay = chooseRelayEngine(opts.config.relay, opts.logger, opts.relay);
    this.cancel = cancelState(opts.config.cancel, opts.slot ?? 0);
    this.listeners = opts.config.listeners.map((l) => this.makeListener(l, opts.config.timeouts));
  }

  private makeListener(l: ListenerConfig, timeouts: TimeoutsConfig, traffic?: TrafficCounter): Listener {
    const hooks = this.hooks;
    return new Listener(
      l,
      {
        timeouts,
        logger: this.logger.child({ listener: l.name }),
        registry: this.registry,
        relayEngine: this.relay.engine,
        cancel: () => this.cancel,
        view: () => this.view,
        adminStates: () => this.admin,
        paused: (name: string) => pauseOf(this.paused, name),
        now: this.now,
        random: this.random,
        nextId: () => String(++this.sessionSeq),
        ...(hooks ? { remoteCancelOwner: (pid: number, key: Buffer) => hooks.lookup(pid, key) } : {}),
      },
      traffic ? { traffic } : {},
    );
  }

  /** Active and retired listeners. */
  private all(): Listener[] {
    return [...this.listeners, ...this.retired];
  }

  /** Binds every listener (after RelayChoice.check); if one fails, the others are closed again and the error is thrown. */
  async start(): Promise<void> {
    this.relay.check(this.logger);
    await bindAll(this.listeners.map((listener, i) => ({ listener, path: `listeners[${i}].bind` })));
  }

  /**
   * Reload in one process: applies `next` without dropping a session (planListenerChanges).
   * - kept (same name and bind): the socket stays open, so no connection is refused; new
   *   settings and timeouts apply to sessions from now on. Views judge its established
   *   sessions by the NEW settings too: the new role/max_lag/on_marked_down is what the
   *   operator asked for, and the listener is still the one they reach.
   * - added: bound before anything else changes. A bind that fails rejects with PGR_ERR_BIND
   *   naming `listeners[i].bind`, closes what this call bound, and leaves the data path
   *   exactly on the old config.
   * - removed, or changed (its bind moved): stops accepting at once; clients not yet relaying
   *   get 57P01; established sessions run on, with no grace cut, still killed by later views
   *   under the config they were routed with (nobody asked for new rules on a socket that is
   *   gone). They stay in traffic()/stats() under their name until the last one ends.
   * The session registry (and with it the cancel keys) is the same before and after.
   * A bind that moves to another listener (a rename) keeps its socket: see ListenerPlan.inherit.
   */
  reconfigure(next: DataPathConfig): Promise<ReconfigureResult> {
    const run = this.reconfiguring.then(() => this.applyConfig(next));
    // Only the order matters to the next reload; this one's caller gets its outcome from `run`.
    this.reconfiguring = run.then(() => undefined, () => undefined);
    return run;
  }

  private async applyConfig(next: DataPathConfig): Promise<ReconfigureResult> {
    if (this.closing) throw new PgrError('PGR_ERR_CONFIG', 'cannot reconfigure: the data path is closing');
    const plan = planListenerChanges(this.listeners.map((l) => l.listener), next.listeners);
    const current = new Map(this.listeners.map((l) => [l.listener.name, l]));
    const kept = new Set(plan.kept);
    const fresh = new Map<string, Listener>();
    const toBind: Array<{ listener: Listener; path: string }> = [];
    next.listeners.forEach((cfg, i) => {
      // A kept listener's new TLS material is built once: PGR_ERR_TLS fails the reload before anything changed.
      if (kept.has(cfg.name)) return checkListenerTls(cfg, this.logger);
      const l = this.makeListener(cfg, next.timeouts, this.trafficOf(cfg.name));
      fresh.set(cfg.name, l);
      if (plan.inherit[cfg.name] === undefined) toBind.push({ listener: l, path: `listeners[${i}].bind` });
    });

    await bindAll(toBind);
    if (this.closing) {
      await Promise.all(toBind.map((b) => b.listener.stopAccepting()));
      throw new PgrError('PGR_ERR_CONFIG', 'cannot reconfigure: the data path is closing');
    }

    // Commit. Nothing below can fail (every name is kept or freshly built, by construction),
    // so the data path is either all old or all new.
    for (const [name, l] of fresh) {
      const donor = plan.inherit[name];
      const from = donor === undefined ? undefined : current.get(donor);
      if (from) l.takeOver(from);
    }
    const retiring = [...plan.removed, ...plan.changed].map((n) => current.get(n)).filter((l): l is Listener => l !== undefined);
    this.listeners = next.listeners.map((cfg) => {
      const keptListener = kept.has(cfg.name) ? current.get(cfg.name) : undefined;
      if (keptListener) {
        keptListener.reconfigure(cfg, next.timeouts);
        return keptListener;
      }
      const l = fresh.get(cfg.name);
      if (!l) throw new Error(`no listener built for ${cfg.name}`);
      return l;
    });
    this.timeouts = next.timeouts;
    this.cancel = cancelState(next.cancel, this.cancel.slot, this.cancel);
    this.registry.setListeners(next.listeners);
    for (const l of retiring) this.retire(l);
    for (const l of this.listeners) l.wake();
    const result = { added: plan.added, removed: plan.removed, changed: plan.changed, kept: plan.kept };
    this.logger.info({ event: 'data_path_reconfigured', ...result, retuned: plan.retuned, inherited: plan.inherit }, 'data path reconfigured');
    return result;
  }

  /** One counter set per listener name, shared by the sockets that name had across reloads. */
  private trafficOf(name: string): TrafficCounter | undefined {
    return this.all().find((l) => l.listener.name === name)?.traffic;
  }

  private retire(l: Listener): void {
    this.retired.add(l);
    l.retire();
    void l.idle().then(() => {
      this.retired.delete(l);
      this.logger.info({ event: 'listener_retired', listener: l.listener.name }, 'last session of a removed listener ended');
    });
  }

  /**
   * Takes a new view (ignored unless its generation is newer), kills the sessions it condemns,
   * and lets held clients connect if their listener has a backend now.
   */
  updateView(view: ClusterView): void {
    if (view.generation <= this.view.generation) return;
    this.view = view;
    this.registry.applyView(view);
    for (const l of this.all()) l.wake();
  }

  /**
   * Operator states by member name, applied to every listener: 'drain' and 'maint' members get
   * no new sessions; their existing sessions stay (killing them is killBackendSessions). Cancel
   * broadcasts still reach them, since their sessions still exist. Held clients try again.
   */
  setAdminStates(states: AdminStates): void {
    this.admin = Object.freeze(adminStatesCopy(states));
    for (const l of this.all()) l.wake();
  }

  adminStates(): AdminStates {
    return this.admin;
  }

  /** Paused listeners (issue 13) hold new clients up to hold_ms; a resumed one wakes them at once. */
  setPausedListeners(paused: PausedListeners): void {
    this.paused = Object.freeze({ ...paused });
    for (const l of this.all()) l.wake();
  }

  pausedListeners(): PausedListeners {
    return this.paused;
  }

  /** Closes every session on `member`, on all listeners; returns how many. */
  killBackendSessions(member: string, reason: KillReason = 'admin'): number {
    return this.registry.killBackend(member, reason);
  }

  /**
   * Per listener traffic counters (the stats page's and the exporter's one source), by name:
   * the configured listeners, and a removed one while it still relays sessions. Sockets that
   * share a name across a reload share their counters; their gauges are summed.
   */
  traffic(): Record<string, ListenerTraffic> {
    const out: Record<string, ListenerTraffic> = {};
    for (const [name, group] of this.byName()) {
      const gauges = { current: 0, queued: 0, held: 0 };
      for (const l of group) {
        const g = l.gauges();
        gauges.current += g.current;
        gauges.queued += g.queued;
        gauges.held += g.held;
      }
      const first = group[0];
      if (first) out[name] = first.traffic.snapshot(gauges);
    }
    return out;
  }

  /** Active listeners first (config order), then retired ones, grouped by name. */
  private byName(): Map<string, Listener[]> {
    const groups = new Map<string, Listener[]>();
    for (const l of this.all()) {
      const group = groups.get(l.listener.name);
      if (group) group.push(l);
      else groups.set(l.listener.name, [l]);
    }
    return groups;
  }

  /** ssl: terminate listeners: when the certificate each presents now expires (epoch seconds). */
  tlsCertExpiry(): Record<string, number> {
    return Object.fromEntries(this.listeners.flatMap((l) => l.certExpiry()));
  }

  /** Sessions with a backend (connecting or relaying), for the admin API. */
  sessions(): SessionInfo[] {
    return this.registry.list().map(sessionInfo);
  }

  /** Sessions with a backend, all listeners. */
  sessionCount(): number {
    return this.registry.count();
  }

  /** Stops (false), or starts again, accepting on every configured listener; sessions go on (issue 10). */
  setAccepting(on: boolean): void {
    for (const l of this.listeners) l.setAccepting(on);
  }

  /**
   * Reload (cluster mode): stops accepting and resolves when the last client is gone. Unlike
   * close(), clients still in their handshake or held for a backend are served, and nothing is
   * cut after a grace period; views keep applying to the remaining sessions.
   */
  async drain(): Promise<void> {
    const all = this.all();
    const stopped = Promise.all(all.map((l) => l.stopAccepting()));
    await Promise.all(all.map((l) => l.idle()));
    await stopped;
  }

  /** Stops accepting, refuses waiting clients, lets sessions drain up to graceMs, then ends them with `reason` (default shutdown). */
  async close(opts: { graceMs?: number; reason?: EndReason } = {}): Promise<void> {
    this.closing = true;
    const all = this.all();
    const stopped = Promise.all(all.map((l) => l.stopAccepting()));
    for (const l of all) l.shutdownPending();
    const idle = (): Promise<unknown> => Promise.all(all.map((l) => l.idle()));
    await within(idle(), opts.graceMs ?? this.timeouts.shutdown_grace);
    const left = this.registry.count();
    if (left > 0) this.logger.info({ event: 'shutdown_destroy', sessions: left, reason: opts.reason ?? 'shutdown' }, 'grace period over, closing sessions');
    for (const l of all) l.destroyAll(opts.reason);
    // Relays end asynchronously (the native thread reports); one that never does must not keep
    // the process from stopping: it is named in the log instead.
    if (await within(Promise.all([idle(), stopped]), CLOSED_WAIT_MS)) return;
    const open = Object.fromEntries(all.map((l) => [l.listener.name, l.gauges().current]));
    this.logger.error({ event: 'shutdown_unfinished', open }, `sessions still open ${CLOSED_WAIT_MS} ms after being closed; stopping anyway`);
  }

  /** Actually bound addresses by listener name (tests bind port 0); configured listeners only. */
  addresses(): Record<string, { host: string; port: number }> {
    return Object.fromEntries(this.listeners.map((l) => [l.listener.name, l.address()]));
  }

  current(): ClusterView {
    return this.view;
  }
}
