// One listening socket (RW, RO, ...) and the client sessions it accepted. Implements the
// SessionContext its sessions use: routing under the current view, the hold list, maxconn.
import net from 'node:net';
import type { ListenerConfig, TimeoutsConfig } from '../config/types.js';
import type { ClusterView, MemberView } from '../view/cluster-view.js';
import { PgrError } from '../errors.js';
import type { Logger } from '../log.js';
import { cancelTargets, eligibleBackends, type AdminStates } from '../routing/eligible.js';
import type { ListenerPause } from '../routing/pause.js';
import { pick } from '../routing/pick.js';
import type { SessionRegistry } from '../sessions/registry.js';
import type { EndReason } from '../sessions/close-reason.js';
import { TrafficCounter } from '../sessions/traffic.js';
import { Admission } from './admission.js';
import type { Route, Wakeable } from './backend-waiter.js';
import { AcceptSuspension } from './accept-suspension.js';
import type { RelayEngine } from '../relay/relay.js';
import { ClientSession, type SessionContext } from './client-session.js';
import { upstreamTlsOf, type UpstreamTls } from './backend-tls.js';
import { tlsStoreFor } from './listener-tls.js';
export { checkListenerTls } from './listener-tls.js';
import type { SessionRelay } from './session-relay.js';
import type { TlsContextStore } from './tls-context-store.js';
import { FrontDoor, guardsTheDoor, socketOrigin, type ClientOrigin, type FrontDoorContext } from './front-door.js';

const EMPTY = Buffer.alloc(0);

export interface ListenerDeps {
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  readonly relayEngine: RelayEngine;
  /** The data path's cancel settings, cap and key maker (issue 10): shared by its listeners. */
  cancel(): SessionContext['cancel'];
  view(): ClusterView;
  /** Operator states by member name: drain and maint take no new sessions. */
  adminStates(): AdminStates;
  /** The operator's pause of a listener by name, or null (issue 13). */
  paused(listener: string): ListenerPause | null;
  now(): number;
  random(): number;
  nextId(): string;
  /** Cluster mode: asks the primary for the owner of a cancel key no local session has. */
  readonly remoteCancelOwner?: SessionContext['remoteCancelOwner'];
}

export interface ListenerOptions {
  /**
   * The counters of a listener of the same name whose bind a reload moved: both sockets count
   * into one series, so `_total` metrics of that name never go backwards.
   */
  readonly traffic?: TrafficCounter;
}

export class Listener implements SessionContext, FrontDoorContext {
  readonly admission: Admission;
  readonly traffic: TrafficCounter;
  /** null once handed to another listener (takeOver): this one then only relays its sessions. */
  private server: net.Server | null;
  private stopped: Promise<void> | null = null;
  private config: ListenerConfig;
  private currentTimeouts: TimeoutsConfig;
  /** Its clients: sessions (from the relay on, their SessionRelay), and clients still at the front door (PROXY header, allow-list). */
  private readonly sessions = new Set<ClientSession | SessionRelay | FrontDoor>();
  /** Clients waiting for a backend; woken on every new view. */
  private readonly held = new Set<Wakeable>();
  /** Clients ever held, so each is counted once in traffic.held_total however often it waits. */
  private readonly countedHeld = new WeakSet<Wakeable>();
  private rrCounter = 0;
  private closedWaiters: Array<() => void> = [];
  private readonly suspension = new AcceptSuspension();

  readonly remoteCancelOwner: SessionContext['remoteCancelOwner'];
  /** ssl: terminate: the certificate clients get, watched and rotated (null otherwise). */
  private tls: TlsContextStore | null = null;
  /** server_tls: the context for TLS to PostgreSQL (null: plaintext). */
  private upstream: UpstreamTls | null;

  constructor(
    listener: ListenerConfig,
    private readonly deps: ListenerDeps,
    opts: ListenerOptions = {},
  ) {
    this.config = listener;
    this.currentTimeouts = deps.timeouts;
    // Bound once here, not on every read (a session reads it per CancelRequest).
    this.remoteCancelOwner = deps.remoteCancelOwner?.bind(deps);
    this.traffic = opts.traffic ?? new TrafficCounter();
    this.admission = new Admission(listener.maxconn);
    // Built first: a certificate OpenSSL refuses throws (PGR_ERR_TLS) before a socket exists.
    this.upstream = upstreamTlsOf(listener.name, listener.server_tls);
    this.tls = tlsStoreFor(listener, deps.logger);
    // allowHalfOpen: a client FIN is forwarded to the backend as a FIN (relay/js-relay.ts).
    this.server = net.createServer({ allowHalfOpen: true });
    this.server.on('connection', this.accept);
    this.server.on('error', this.onServerError);
  }

  /**
   * This listener's settings. Sessions read them when they need them (handshake, routing, kill
   * decisions), so after reconfigure() new sessions follow the new ones.
   */
  get listener(): ListenerConfig {
    return this.config;
  }

  get timeouts(): TimeoutsConfig {
    return this.currentTimeouts;
  }
  get logger(): Logger {
    return this.deps.logger;
  }
  get registry(): SessionRegistry {
    return this.deps.registry;
  }
  get relayEngine(): RelayEngine {
    return this.deps.relayEngine;
  }
  get tlsStore(): TlsContextStore | null {
    return this.tls;
  }
  get upstreamTls(): UpstreamTls | null {
    return this.upstream;
  }

  /** ssl: terminate: [name, the certificate's notAfter in epoch seconds]; nothing otherwise. */
  certExpiry(): Array<[string, number]> {
    return this.tls ? [[this.config.name, Math.floor(this.tls.notAfter / 1000)]] : [];
  }

  countCancel(outcome: string): void {
    this.traffic.cancel(outcome);
  }
  get cancel(): SessionContext['cancel'] {
    return this.deps.cancel();
  }

  /** Binds. `path` (e.g. "listeners[2].bind") is named in the error so the operator finds the key. */
  start(path?: string): Promise<void> {
    const server = this.server;
    if (!server) return Promise.reject(new PgrError('PGR_ERR_BIND', `listener ${this.listener.name} has handed its socket on`));
    if (server.listening) return Promise.resolve();
    this.tls?.start();
    const { host, port } = this.listener.bind;
    const where = path === undefined ? '' : `${path}: `;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new PgrError('PGR_ERR_BIND', `${where}listener ${this.listener.name} cannot bind ${host}:${port}: ${err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.removeListener('error', onError);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.server?.address() ?? null;
    if (a === null || typeof a === 'string') return { host: this.listener.bind.host, port: this.listener.bind.port };
    return { host: a.address, port: a.port };
  }

  /**
   * Stops accepting at once; resolves once the server handle is closed (all sessions it
   * accepted gone). Idempotent: every caller gets the same promise.
   */
  stopAccepting(): Promise<void> {
    if (this.stopped) return this.stopped;
    // Clients already in their handshake still get the current certificate; it is no longer watched.
    this.tls?.close();
    const server = this.server;
    this.stopped = new Promise((resolve) => {
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    });
    return this.stopped;
  }

  /** Stale views (issue 10): the socket closes (false) or opens again; its sessions go on (accept-suspension.ts). */
  setAccepting(on: boolean): void {
    if (this.stopped) return;
    if (on) this.suspension.resume(this.server, (err) => this.logger.error({ event: 'listener_resume_failed', listener: this.listener.name, err: err.message }, 'cannot accept again'));
    else this.suspension.suspend(this.server, () => this.address());
  }

  /**
   * Reload, kept listener: new settings and timeouts for the sessions that start from now on
   * (and for clients still in their handshake or waiting: they route under the new settings).
   * Established sessions keep their relay; views judge them by the new rules (KillScope).
   */
  reconfigure(listener: ListenerConfig, timeouts: TimeoutsConfig): void {
    // DataPath checked the TLS material first (checkListenerTls): this does not throw.
    const upstream = upstreamTlsOf(listener.name, listener.server_tls);
    if (listener.ssl === 'terminate' && listener.tls !== null && this.tls) this.tls.update(listener.tls);
    else {
      const fresh = tlsStoreFor(listener, this.deps.logger);
      this.tls?.close();
      this.tls = fresh;
      if (this.server?.listening) this.tls?.start();
    }
    this.upstream = upstream;
    this.config = listener;
    this.currentTimeouts = timeouts;
    this.admission.setLimit(listener.maxconn);
  }

  /**
   * Reload, the bind moved to another listener (a rename): `from`'s open socket is taken over
   * as is, so its port never refuses a connection. `from` keeps relaying what it accepted.
   */
  takeOver(from: Listener): void {
    const server = from.releaseServer();
    if (!server) return;
    this.server?.removeListener('connection', this.accept);
    this.server?.removeListener('error', this.onServerError);
    this.server = server;
    server.on('connection', this.accept);
    server.on('error', this.onServerError);
  }

  private releaseServer(): net.Server | null {
    const server = this.server;
    if (!server || this.stopped) return null;
    server.removeListener('connection', this.accept);
    server.removeListener('error', this.onServerError);
    this.server = null;
    return server;
  }

  /**
   * Reload, listener removed (or moved to another bind): stops accepting at once; clients not
   * yet relaying (handshake, queued for maxconn, held for a backend) are refused with 57P01 —
   * the listener they came to no longer exists, and a held one could otherwise wait up to
   * connect_wait on nothing. Established sessions run on until they end.
   */
  retire(): void {
    void this.stopAccepting();
    for (const s of [...this.sessions]) s.shutdown('listener_removed', `listener ${this.listener.name} was removed by a reload`);
  }

  /** A new view: held clients try again. */
  wake(): void {
    for (const w of [...this.held]) w.wake();
  }

  /** Shutdown: clients still in the handshake or waiting are refused. */
  shutdownPending(): void {
    for (const s of [...this.sessions]) s.shutdown();
  }

  destroyAll(reason?: EndReason): void {
    for (const s of [...this.sessions]) s.destroy(reason);
  }

  /** Resolves when no session is left. */
  idle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** This socket's own gauges (its counters may be shared, see ListenerOptions.traffic). */
  gauges(): { current: number; queued: number; held: number } {
    return { current: this.sessions.size, queued: this.admission.stats().queued, held: this.held.size };
  }

  // ---- SessionContext ----------------------------------------------------------------------

  now(): number {
    return this.deps.now();
  }

  route(exclude: ReadonlySet<string>): Route | null {
    // Paused: held like a listener without a backend (backend-waiter.ts, the pause's hold limit).
    if (this.pause() !== null) return null;
    const eligible = eligibleBackends(this.deps.view(), this.listener, this.deps.adminStates(), this.deps.now());
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

  pause(): ListenerPause | null {
    return this.deps.paused(this.listener.name);
  }

  hold(w: Wakeable): void {
    this.held.add(w);
    if (!this.countedHeld.has(w)) {
      this.countedHeld.add(w);
      this.traffic.held();
    }
  }

  unhold(w: Wakeable): void {
    this.held.delete(w);
  }

  /** A session's relay started: its SessionRelay stands for it from now on (before the ClientSession is closed). */
  relayStarted(session: SessionRelay): void {
    this.sessions.add(session);
  }

  closed(session: ClientSession | SessionRelay | FrontDoor): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0 && this.closedWaiters.length > 0) {
      const waiters = this.closedWaiters;
      this.closedWaiters = [];
      for (const w of waiters) w();
    }
  }

  private readonly onServerError = (err: Error): void => {
    this.logger.error({ event: 'listener_error', listener: this.listener.name, err }, 'listener error');
  };

  private readonly accept = (socket: net.Socket): void => {
    this.traffic.accepted();
    if (!guardsTheDoor(this.listener)) return this.startSession(socket, socketOrigin(socket), EMPTY);
    const door = new FrontDoor(socket, this);
    this.sessions.add(door);
    door.start();
  };

  /** FrontDoorContext: the client passed the door (PROXY header read, address allowed). */
  admitted(door: FrontDoor, socket: net.Socket, origin: ClientOrigin, rest: Buffer): void {
    // The session is in the set before the door leaves it, so idle() never sees an empty set.
    this.startSession(socket, origin, rest);
    this.closed(door);
  }

  private startSession(socket: net.Socket, origin: ClientOrigin, rest: Buffer): void {
    const session = new ClientSession(socket, this, this.deps.nextId(), origin);
    this.sessions.add(session);
    session.start(rest);
  }
}
