// The data path: all listeners, the session registry, and the current ClusterView. It gets a
// Config and views, nothing else, so the same class runs in-process or inside cluster workers
// (views then arrive over IPC). It never imports discovery or config loading.
import type { Config } from '../config/types.js';
import { emptyView, type ClusterView } from '../discovery/types.js';
import type { Logger } from '../log.js';
import { Counters } from '../sessions/counters.js';
import { SessionRegistry, type RegistryStats } from '../sessions/registry.js';
import type { CounterGroup } from './client-session.js';
import { Listener, type ListenerStats } from './listener.js';

export interface DataPathOptions {
  readonly config: Config;
  readonly logger: Logger;
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
  private sessionSeq = 0;

  constructor(opts: DataPathOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.view = emptyView(opts.config.cluster.scope, opts.config.cluster.etcd ? 'etcd' : 'static');
    this.registry = new SessionRegistry({ listeners: opts.config.listeners, logger: opts.logger });
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
          now,
          random,
          nextId: () => String(++this.sessionSeq),
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
