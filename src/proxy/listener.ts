// One listening socket (RW, RO, ...) and the client sessions it accepted. Implements the
// SessionContext its sessions use: routing under the current view, the hold list, maxconn.
import net from 'node:net';
import type { ListenerConfig, TimeoutsConfig } from '../config/types.js';
import type { ClusterView, MemberView } from '../discovery/types.js';
import { PgrError } from '../errors.js';
import type { Logger } from '../log.js';
import { cancelTargets, eligibleBackends, type AdminStates } from '../routing/eligible.js';
import { pick } from '../routing/pick.js';
import type { Counters } from '../sessions/counters.js';
import type { SessionRegistry } from '../sessions/registry.js';
import { TrafficCounter } from '../sessions/traffic.js';
import type { ListenerTraffic } from '../http/types.js';
import { Admission } from './admission.js';
import type { Route, Wakeable } from './backend-waiter.js';
import { ClientSession, type CounterGroup, type SessionContext } from './client-session.js';

export interface ListenerDeps {
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  readonly counters: Counters<CounterGroup>;
  view(): ClusterView;
  /** Operator states by member name: drain and maint take no new sessions. */
  adminStates(): AdminStates;
  now(): number;
  random(): number;
  nextId(): string;
  /** Cluster mode: asks the primary for the owner of a cancel key no local session has. */
  remoteCancelOwner?(pid: number, key: Buffer): Promise<{ host: string; port: number } | null>;
}

export interface ListenerStats {
  readonly clients: number;
  readonly established: number;
  readonly held: number;
  readonly active: number;
  readonly queued: number;
}

export class Listener implements SessionContext {
  readonly admission: Admission;
  readonly traffic = new TrafficCounter();
  private readonly server: net.Server;
  private readonly sessions = new Set<ClientSession>();
  /** Clients waiting for a backend; woken on every new view. */
  private readonly held = new Set<Wakeable>();
  private rrCounter = 0;
  private closedWaiters: Array<() => void> = [];

  constructor(
    readonly listener: ListenerConfig,
    private readonly deps: ListenerDeps,
  ) {
    this.admission = new Admission(listener.maxconn);
    // allowHalfOpen: a client FIN is forwarded to the backend as a FIN (relay.ts).
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.logger.error({ event: 'listener_error', listener: listener.name, err }, 'listener error'));
  }

  get timeouts(): TimeoutsConfig {
    return this.deps.timeouts;
  }
  get logger(): Logger {
    return this.deps.logger;
  }
  get registry(): SessionRegistry {
    return this.deps.registry;
  }
  get counters(): Counters<CounterGroup> {
    return this.deps.counters;
  }

  start(): Promise<void> {
    const { host, port } = this.listener.bind;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new PgrError('PGR_ERR_BIND', `listener ${this.listener.name} cannot bind ${host}:${port}: ${err.message}`, { cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return { host: this.listener.bind.host, port: this.listener.bind.port };
    return { host: a.address, port: a.port };
  }

  /** Stops accepting; resolves once the server handle is closed (all sessions gone). */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  /** A new view: held clients try again. */
  wake(): void {
    for (const w of [...this.held]) w.wake();
  }

  /** Shutdown: clients still in the handshake or waiting are refused. */
  shutdownPending(): void {
    for (const s of [...this.sessions]) s.shutdown();
  }

  destroyAll(): void {
    for (const s of [...this.sessions]) s.destroy();
  }

  /** Resolves when no session is left. */
  idle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  trafficSnapshot(): ListenerTraffic {
    return this.traffic.snapshot({ current: this.sessions.size, queued: this.admission.stats().queued, held: this.held.size });
  }

  stats(): ListenerStats {
    let established = 0;
    for (const s of this.sessions) if (s.established) established++;
    return { clients: this.sessions.size, established, held: this.held.size, ...this.admission.stats() };
  }

  // ---- SessionContext ----------------------------------------------------------------------

  now(): number {
    return this.deps.now();
  }

  route(exclude: ReadonlySet<string>): Route | null {
    const eligible = eligibleBackends(this.deps.view(), this.listener, this.deps.adminStates());
    const candidates = exclude.size === 0 ? eligible.members : eligible.members.filter((m) => !exclude.has(m.name));
    const load = { sessions: (name: string) => this.registry.sessionsOn(this.listener.name, name), rrCounter: this.rrCounter };
    const member = pick(candidates, this.listener.balance, load, () => this.deps.random());
    if (!member) return null;
    this.rrCounter = (this.rrCounter + 1) % Number.MAX_SAFE_INTEGER;
    return { member, viaFallback: eligible.usingFallback };
  }

  /** Admin states are not applied here: a drained member still holds sessions to cancel. */
  cancelTargets(): readonly MemberView[] {
    return cancelTargets(this.deps.view(), this.listener);
  }

  get remoteCancelOwner(): ((pid: number, key: Buffer) => Promise<{ host: string; port: number } | null>) | undefined {
    const fn = this.deps.remoteCancelOwner;
    return fn ? (pid, key) => fn.call(this.deps, pid, key) : undefined;
  }

  hold(w: Wakeable): void {
    this.held.add(w);
  }

  unhold(w: Wakeable): void {
    this.held.delete(w);
  }

  closed(session: ClientSession): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0 && this.closedWaiters.length > 0) {
      const waiters = this.closedWaiters;
      this.closedWaiters = [];
      for (const w of waiters) w();
    }
  }

  private accept(socket: net.Socket): void {
    const session = new ClientSession(socket, this, this.deps.nextId());
    this.sessions.add(session);
    this.traffic.accepted();
    session.start();
  }
}
