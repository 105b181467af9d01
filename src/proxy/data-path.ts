// The data path: all listeners, the session registry, and the current ClusterView. It gets a
// Config and views, nothing else, so the same class runs in-process or inside cluster workers
// (views then arrive over IPC). It never imports discovery or config loading.
import type { Config } from '../config/types.js';
import { emptyView, type ClusterView } from '../discovery/types.js';
import type { ListenerTraffic, SessionInfo } from '../http/types.js';
import type { Logger } from '../log.js';
import type { AdminStates } from '../routing/eligible.js';
import type { KillReason } from '../routing/kill.js';
import { Counters } from '../sessions/counters.js';
import { SessionRegistry, type CancelKeyObserver, type RegistryStats } from '../sessions/registry.js';
import type { CounterGroup } from './client-session.js';
import { Listener, type ListenerStats } from './listener.js';

/**
 * Cluster mode (src/cluster/worker.ts): cancel keys shared between worker processes. A
 * CancelRequest lands on any worker; the one relaying the session may be another.
 */
export interface CancelKeyHooks extends CancelKeyObserver {
  /** The owner of a key no session here has, or null (then the cancel is broadcast). */
  lookup(pid: number, key: Buffer): Promise<{ host: string; port: number } | null>;
}

export interface DataPathOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Cluster mode only; in one process the registry knows every key. */
  readonly cancelKeys?: CancelKeyHooks;
  /** Clock (epoch ms); tests may pass their own. */
  readonly now?: () => number;
  /** Randomness for `balance: random`. */
  readonly random?: () => number;
}

export interface DataPathStats {
  readonly generation: number;
  readonly primary: string | null;
  readonly listeners: Record<string, ListenerStats>;
  readonly sessions: RegistryStats;
  /** Clients closed before their session was established, by reason. */
  readonly rejected: Record<string, number>;
  /** Established sessions that ended, by reason. */
  readonly closed: Record<string, number>;
  /** Cancel requests by outcome (exact, broadcast, no_target, send_failed_*). */
  readonly cancels: Record<string, number>;
  /** Failed backend connection attempts by error code. */
  readonly connect_errors: Record<string, number>;
}

export class DataPath {
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly registry: SessionRegistry;
  private readonly counters = new Counters<CounterGroup>(['rejected', 'closed', 'cancels', 'connect_errors']);
  private readonly listeners: Listener[];
  private view: ClusterView;
  private admin: AdminStates = Object.freeze({});
  private sessionSeq = 0;

  constructor(opts: DataPathOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.view = emptyView(opts.config.cluster.scope, opts.config.cluster.etcd ? 'etcd' : 'static');
    const hooks = opts.cancelKeys;
    this.registry = new SessionRegistry({ listeners: opts.config.listeners, logger: opts.logger, ...(hooks ? { cancelKeys: hooks } : {}) });
    const now = opts.now ?? Date.now;
    const random = opts.random ?? Math.random;
    this.listeners = opts.config.listeners.map(
      (l) =>
        new Listener(l, {
          timeouts: opts.config.timeouts,
          logger: opts.logger.child({ listener: l.name }),
          registry: this.registry,
          counters: this.counters,
          view: () => this.view,
          adminStates: () => this.admin,
          now,
          random,
          nextId: () => String(++this.sessionSeq),
          ...(hooks ? { remoteCancelOwner: (pid: number, key: Buffer) => hooks.lookup(pid, key) } : {}),
        }),
    );
  }

  /** Binds every listener; if one fails, the others are closed again and the error is thrown. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.listeners.map((l) => l.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(this.listeners.map((l) => l.stopAccepting()));
      throw failed.reason;
    }
  }

  /**
   * Takes a new view (ignored unless its generation is newer), kills the sessions it condemns,
   * and lets held clients connect if their listener has a backend now.
   */
  updateView(view: ClusterView): void {
    if (view.generation <= this.view.generation) return;
    this.view = view;
    this.registry.applyView(view);
    for (const l of this.listeners) l.wake();
  }

  /**
   * Operator states by member name, applied to every listener: 'drain' and 'maint' members get
   * no new sessions; their existing sessions stay (killing them is killBackendSessions). Cancel
   * broadcasts still reach them, since their sessions still exist. Held clients try again.
   */
  setAdminStates(states: AdminStates): void {
    this.admin = Object.freeze({ ...states });
    for (const l of this.listeners) l.wake();
  }

  adminStates(): AdminStates {
    return this.admin;
  }

  /** Closes every session on `member`, on all listeners; returns how many. */
  killBackendSessions(member: string, reason: KillReason = 'admin'): number {
    return this.registry.killBackend(member, reason);
  }

  /** Per listener traffic counters (the stats page's and the exporter's one source). */
  traffic(): Record<string, ListenerTraffic> {
    return Object.fromEntries(this.listeners.map((l) => [l.listener.name, l.trafficSnapshot()]));
  }

  /** Cancel requests by outcome (exact, broadcast, no_target, send_failed_*). */
  cancels(): Record<string, number> {
    return this.counters.snapshot().cancels;
  }

  /** Sessions with a backend (connecting or relaying), for the admin API. */
  sessions(): SessionInfo[] {
    return this.registry.list().map((r) => ({
      id: r.id,
      listener: r.listener,
      backend: r.backend,
      backend_address: `${r.backendHost}:${r.backendPort}`,
      client_address: r.clientAddress,
      started_at: r.startedAt,
      bytes_in: r.bytesIn,
      bytes_out: r.bytesOut,
    }));
  }

  /** Sessions with a backend, all listeners. */
  sessionCount(): number {
    return this.registry.count();
  }

  /**
   * Reload (cluster mode): stops accepting and resolves when the last client is gone. Unlike
   * close(), clients still in their handshake or held for a backend are served, and nothing is
   * cut after a grace period; views keep applying to the remaining sessions.
   */
  async drain(): Promise<void> {
    const stopped = Promise.all(this.listeners.map((l) => l.stopAccepting()));
    await Promise.all(this.listeners.map((l) => l.idle()));
    await stopped;
  }

  /** Stops accepting, refuses waiting clients, lets sessions drain up to graceMs, then destroys them. */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    const graceMs = opts.graceMs ?? this.config.timeouts.shutdown_grace;
    const stopped = Promise.all(this.listeners.map((l) => l.stopAccepting()));
    for (const l of this.listeners) l.shutdownPending();
    const idle = Promise.all(this.listeners.map((l) => l.idle()));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([idle, grace]);
    clearTimeout(timer);
    const left = this.registry.count();
    if (left > 0) this.logger.info({ event: 'shutdown_destroy', sessions: left }, 'grace period over, closing sessions');
    for (const l of this.listeners) l.destroyAll();
    await stopped;
  }

  /** Actually bound addresses by listener name (tests bind port 0). */
  addresses(): Record<string, { host: string; port: number }> {
    return Object.fromEntries(this.listeners.map((l) => [l.listener.name, l.address()]));
  }

  current(): ClusterView {
    return this.view;
  }

  stats(): DataPathStats {
    const c = this.counters.snapshot();
    return {
      generation: this.view.generation,
      primary: this.view.primary,
      listeners: Object.fromEntries(this.listeners.map((l) => [l.listener.name, l.stats()])),
      sessions: this.registry.stats(),
      rejected: c.rejected,
      closed: c.closed,
      cancels: c.cancels,
      connect_errors: c.connect_errors,
    };
  }
}
