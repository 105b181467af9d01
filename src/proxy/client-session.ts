// One client connection, from accept to close: the startup handshake, getting a backend
// (backend-waiter.ts: maxconn queue, hold), the backend connection, then the relay.
//
//   startup ──SSLRequest (disable) / GSSENCRequest──► answer 'N', back to startup
//      │ ──CancelRequest──► forward (exact owner or broadcast), close
//      │ ──SSLRequest (passthrough) / StartupMessage──► waiting ► connecting
//   connecting ──SSLRequest──► ssl_wait ──'S'──► relay (TLS end to end, never parsed)
//      │                               ──'N'──► startup (backend kept) ──StartupMessage──► server_hello
//      └──StartupMessage──► server_hello ──first server message──► relay (server stream parsed
//                                          until ReadyForQuery, for BackendKeyData)
//
// Until the client has seen a byte from a backend, a failed or condemned backend is replaced
// by another one (the client never notices): a refused connection, a backend that closes or
// answers the StartupMessage with 57P03 (starting up / shutting down, typical mid-switchover),
// a view change. After that, a kill closes the session.
import type net from 'node:net';
import type { ListenerConfig, TimeoutsConfig } from '../config/types.js';
import type { MemberView } from '../view/cluster-view.js';
import type { Logger } from '../log.js';
import type { KillReason } from '../routing/kill.js';
import { endThenDestroy } from '../relay/end-then-destroy.js';
import type { Relay, RelayEnd, RelayEngine, RelayObserver } from '../relay/relay.js';
import { killedReason, type RefusalReason } from '../sessions/close-reason.js';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import { connectBackend, type ConnectAttempt } from './backend-connect.js';
import { BackendWaiter, type Route, type WaiterContext, type WaiterEvents } from './backend-waiter.js';
import { forwardCancel } from './cancel-forwarder.js';
import { handshakeStep } from './handshake.js';
import { errorResponse, NO_ENCRYPTION, SQLSTATE, sslRequestPacket } from '../protocol/messages.js';
import { feedServerStartup, firstServerMessage, initialServerStartup, type ServerStartupState } from '../protocol/server-startup-parser.js';

/** What a session needs from its listener; the listener implements it. */
export interface SessionContext extends WaiterContext {
  readonly listener: ListenerConfig;
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  /** This listener's per-backend traffic (a few bumps per session, none per chunk). */
  readonly traffic: TrafficCounter;
  /** What moves the bytes once the startup phase is over. */
  readonly relayEngine: RelayEngine;
  /** Counts a CancelRequest by outcome (exact, broadcast, no_target, send_failed_<error>). */
  countCancel(outcome: string): void;
  /** Members to broadcast a cancel with an unknown key to. */
  cancelTargets(): readonly MemberView[];
  /** Cluster mode: the owner of a cancel key another worker relays (null: unknown). */
  readonly remoteCancelOwner?: ((pid: number, key: Buffer) => Promise<{ host: string; port: number } | null>) | undefined;
  /** The session released everything (called once). */
  closed(session: ClientSession): void;
}

/** Shared by every session's empty accumulators: never written to, it only stands for "nothing yet". */
const EMPTY = Buffer.alloc(0);

type Phase = 'startup' | 'waiting' | 'connecting' | 'ssl_wait' | 'server_hello' | 'relay' | 'done';

export class ClientSession implements RelayObserver, WaiterEvents {
  private readonly clientAddress: string;
  private phase: Phase = 'startup';
  private acc: Buffer = EMPTY;
  private sslDone = false;
  private gssDone = false;
  /** What to send once a backend is connected: an SSLRequest, or the StartupMessage (+ pipelined tail). */
  private pending: { kind: 'ssl' } | { kind: 'startup'; readonly packet: Buffer; tail: Buffer } | null = null;
  private startupTimer: NodeJS.Timeout | null = null;
  private readonly waiter: BackendWaiter;
  private attempt: ConnectAttempt | null = null;
  private backend: net.Socket | null = null;
  private record: SessionRecord | null = null;
  private relay: Relay | null = null;
  /** The record being relayed; kept after a kill takes `record` out of the registry, for the final counts. */
  private relayed: SessionRecord | null = null;
  private parser: ServerStartupState | null = null;
  /** Server bytes held back until its first message is known (phase server_hello). */
  private hello: Buffer = EMPTY;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: SessionContext,
    readonly id: string,
  ) {
    this.clientAddress = `${client.remoteAddress ?? '?'}:${client.remotePort ?? '?'}`;
    this.waiter = new BackendWaiter(ctx, this);
  }

  start(): void {
    const { client, ctx } = this;
    client.setNoDelay(true);
    client.setKeepAlive(true, ctx.timeouts.keepalive);
    client.on('data', this.onClientData);
    client.on('end', this.onClientGone);
    client.on('close', this.onClientGone);
    client.on('error', this.onClientError);
    this.armStartupTimer();
  }

  /**
   * Router shutdown, or its listener removed by a reload: a client not yet relaying is refused
   * now (57P01, counted under `reason`); an established session runs on.
   */
  shutdown(reason: 'shutdown' | 'listener_removed' = 'shutdown', message = 'pgrouter is shutting down'): void {
    if (this.phase === 'relay' || this.phase === 'done') return;
    this.refuse(reason, errorResponse(SQLSTATE.ADMIN_SHUTDOWN, message));
  }

  destroy(): void {
    this.relay?.kill('shutdown');
    this.refuse('shutdown');
    this.client.destroy();
  }

  // ---- the handshake ----------------------------------------------------------------------

  private readonly onClientData = this.guard((chunk: Buffer): void => {
    if (this.phase !== 'startup') {
      // Bytes while an SSLRequest is unanswered: CVE-2021-23214.
      if (this.pending?.kind === 'ssl') this.refuse('ssl_pipelined');
      // The socket is paused while a StartupMessage waits for its backend; a chunk already on
      // its way is kept for the backend rather than lost.
      else if (this.pending?.kind === 'startup') {
        this.pending.tail = Buffer.concat([this.pending.tail, chunk]);
        if (this.phase === 'server_hello') this.backend?.write(chunk);
      }
      return;
    }
    this.acc = this.acc.length === 0 ? chunk : Buffer.concat([this.acc, chunk]);
    const step = handshakeStep(this.acc, { ssl: this.ctx.listener.ssl, sslDone: this.sslDone, gssDone: this.gssDone });
    if (step.step !== 'wait') this.acc = EMPTY;
    switch (step.step) {
      case 'wait':
        return;
      case 'reject':
        return this.refuse(step.reason, undefined, step.detail);
      case 'answer_no':
        if (step.request === 'ssl') this.sslDone = true;
        else this.gssDone = true;
        this.client.write(NO_ENCRYPTION);
        return;
      case 'ssl_passthrough':
        this.sslDone = true;
        this.clearStartupTimer();
        this.pending = { kind: 'ssl' };
        this.phase = 'waiting';
        return this.waiter.begin();
      case 'cancel':
        return this.cancel(step.pid, step.key);
      case 'startup':
        this.clearStartupTimer();
        this.pending = { kind: 'startup', packet: step.packet, tail: step.tail };
        // Keep the client's further bytes in the kernel (not here) until the backend is ready.
        this.client.pause();
        if (this.backend) return this.sendStartup();
        this.phase = 'waiting';
        return this.waiter.begin();
    }
  });

  private cancel(pid: number, key: Buffer): void {
    const { ctx } = this;
    const ask = ctx.remoteCancelOwner;
    if (ask && ctx.registry.findByCancelKey(pid, key) === null) {
      // Cluster mode: another worker may relay that session. The client is released now; the
      // cancel goes out once the primary answered (or its short deadline passed: broadcast).
      this.finish();
      this.dropBackend();
      ask(pid, key)
        .catch((err: unknown) => {
          ctx.logger.debug({ event: 'cancel_lookup_failed', pid, err: String(err) }, 'cancel owner lookup failed, broadcasting');
          return null;
        })
        .then((owner) => this.routeCancel(pid, key, owner ? { backendHost: owner.host, backendPort: owner.port } : null))
        .catch((err: unknown) => ctx.logger.error({ event: 'cancel_failed', pid, err: String(err) }, 'cancel request failed'));
      return;
    }
    this.routeCancel(pid, key, null);
  }

  private routeCancel(pid: number, key: Buffer, remote: { backendHost: string; backendPort: number } | null): void {
    const { ctx } = this;
    const outcome = forwardCancel(pid, key, {
      findOwner: (p, k) => remote ?? ctx.registry.findByCancelKey(p, k),
      targets: () => ctx.cancelTargets(),
      timeoutMs: ctx.timeouts.connect,
      keepaliveMs: ctx.timeouts.keepalive,
      onSendFailure: (reason) => ctx.countCancel(`send_failed_${reason}`),
    });
    ctx.countCancel(outcome);
    ctx.logger.debug({ event: 'cancel', client: this.clientAddress, pid, outcome }, 'cancel request');
    // "Message Flow: Canceling Requests": the server closes the connection without a reply.
    this.finish();
    this.dropBackend();
    endThenDestroy(this.client);
  }

  // ---- the backend ------------------------------------------------------------------------

  // WaiterEvents: the waiter calls these (methods: no closures per session).

  onRoute(route: Route): void {
    this.connect(route);
  }

  onRefuse(reason: 'queue_timeout' | 'no_backend', message: Buffer): void {
    this.refuse(reason, message);
  }

  private connect(route: Route): void {
    const { ctx } = this;
    const m = route.member;
    this.phase = 'connecting';
    this.record = {
      id: this.id,
      listener: ctx.listener.name,
      backend: m.name,
      backendHost: m.host,
      backendPort: m.port,
      viaFallback: route.viaFallback,
      clientAddress: this.clientAddress,
      startedAt: ctx.now(),
      bytesIn: 0,
      bytesOut: 0,
      cancelKey: null,
    };
    // Registered while connecting already: leastconn counts it, and a view change reaches it.
    // The listener is the kill scope: after a reload, views judge it by that listener's rules.
    ctx.registry.add(this.record, this.onKill, ctx);
    const opts = { timeoutMs: ctx.timeouts.connect, keepaliveMs: ctx.timeouts.keepalive };
    this.attempt = connectBackend(
      m,
      opts,
      this.guard((result) => {
        this.attempt = null;
        if (result.ok) return this.connected(result.socket);
        ctx.traffic.connectError(m.name);
        ctx.logger.debug({ event: 'backend_connect_failed', backend: m.name, reason: result.reason, client: this.clientAddress }, 'backend connect failed');
        this.replaceBackend(m.name);
      }),
    );
  }

  /** The backend failed (`failed`) or was condemned (null) before the client saw a byte from it. */
  private replaceBackend(failed: string | null): void {
    this.dropBackend();
    this.phase = 'waiting';
    this.waiter.retry(failed);
  }

  private dropBackend(): void {
    this.attempt?.abort();
    this.attempt = null;
    const backend = this.backend;
    if (backend) {
      // Its late 'close' must not be mistaken for the next backend's.
      backend.removeListener('data', this.onBackendData);
      backend.removeListener('close', this.onBackendClose);
      backend.destroy();
    }
    this.backend = null;
    this.untrack();
  }

  /** Takes the session out of the registry (idempotent). */
  private untrack(): void {
    if (this.record) this.ctx.registry.remove(this.record);
    this.record = null;
  }

  private connected(socket: net.Socket): void {
    this.backend = socket;
    socket.on('error', this.onBackendError);
    socket.on('close', this.onBackendClose);
    socket.on('data', this.onBackendData);
    if (this.pending?.kind !== 'ssl') return this.sendStartup();
    this.phase = 'ssl_wait';
    socket.write(sslRequestPacket());
  }

  /** Forwards the StartupMessage (and what the client pipelined) and waits for the first answer. */
  private sendStartup(): void {
    const backend = this.backend;
    if (!backend || this.pending?.kind !== 'startup') return this.refuse('internal_error', undefined, 'no startup to send');
    this.phase = 'server_hello';
    this.hello = EMPTY;
    backend.write(this.pending.packet);
    if (this.pending.tail.length > 0) backend.write(this.pending.tail);
  }

  private serverHello(chunk: Buffer): void {
    this.hello = this.hello.length === 0 ? chunk : Buffer.concat([this.hello, chunk]);
    const first = firstServerMessage(this.hello);
    if (first.kind === 'incomplete') return;
    if (first.kind === 'error' && first.sqlstate === SQLSTATE.CANNOT_CONNECT_NOW) {
      if (this.record) this.ctx.traffic.connectError(this.record.backend);
      return this.replaceBackend(this.record?.backend ?? null);
    }
    const hello = this.hello;
    this.hello = EMPTY;
    this.beginRelay(true, hello);
  }

  private readonly onBackendData = this.guard((chunk: Buffer): void => {
    if (this.phase === 'server_hello') return this.serverHello(chunk);
    if (this.phase !== 'ssl_wait') return this.refuse('backend_protocol', undefined, 'server spoke before the startup packet');
    const answer = chunk[0];
    if (answer === 0x53 /* 'S' */) {
      // TLS end to end from here: the bytes are encrypted, so they are never parsed.
      this.pending = null;
      this.client.write(chunk);
      this.beginRelay(false);
    } else if (answer === 0x4e /* 'N' */ && chunk.length === 1) {
      // The client continues in plaintext on the same connection, and so does this backend.
      this.pending = null;
      this.phase = 'startup';
      this.client.write(NO_ENCRYPTION);
      this.armStartupTimer();
    } else {
      this.refuse('backend_protocol', undefined, `unexpected answer to SSLRequest: ${String(answer)}`);
    }
  });

  private readonly onBackendClose = this.guard((): void => {
    if (this.phase === 'ssl_wait' || this.phase === 'server_hello') return this.replaceBackend(this.record?.backend ?? null);
    // After 'N' and before the StartupMessage: a new backend can take the StartupMessage alone.
    if (this.phase === 'startup') this.dropBackend();
  });

  private readonly onBackendError = (err: Error): void => {
    this.ctx.logger.debug({ event: 'backend_error', client: this.clientAddress, err: err.message }, 'backend socket error');
  };

  private readonly onKill = (reason: KillReason): void => {
    // The registry has already forgotten the record.
    this.record = null;
    if (this.phase === 'connecting' || this.phase === 'ssl_wait' || this.phase === 'server_hello') {
      return this.guard(() => this.replaceBackend(null))();
    }
    if (this.phase === 'startup') return this.dropBackend();
    this.relay?.kill(killedReason(reason));
  };

  // ---- the relay --------------------------------------------------------------------------

  /** `hello`: server bytes already read (the start of its answer), relayed first. */
  private beginRelay(parse: boolean, hello: Buffer = EMPTY): void {
    const { client, ctx } = this;
    const backend = this.backend;
    const record = this.record;
    if (!backend || !record) return this.refuse('internal_error', undefined, 'relay without a backend');
    this.phase = 'relay';
    // Pause before dropping our 'data' listener, or bytes would flow to nobody.
    client.pause();
    // The handshake's listeners go (the relay has its own); the error loggers stay.
    client.removeListener('data', this.onClientData);
    client.removeListener('end', this.onClientGone);
    client.removeListener('close', this.onClientGone);
    backend.removeListener('data', this.onBackendData);
    backend.removeListener('close', this.onBackendClose);
    const pending = this.pending;
    this.pending = null;
    if (pending?.kind === 'startup') record.bytesIn += pending.packet.length + pending.tail.length;
    this.parser = parse ? initialServerStartup() : null;
    ctx.traffic.relayStarted(record);
    if (hello.length > 0) {
      record.bytesOut += hello.length;
      this.observeStartup(record, hello);
      client.write(hello);
    }
    this.relayed = record;
    const timeouts = { client: ctx.timeouts.client, server: ctx.timeouts.server };
    this.relay = ctx.relayEngine.start({ client, server: backend, timeouts, counts: record, observeServer: parse }, this);
  }

  // RelayObserver: the relay calls these (methods: no closures per session).

  relayServerData(chunk: Buffer): void {
    const record = this.relayed;
    if (!record) return;
    record.bytesOut += chunk.length;
    if (this.parser) this.observeStartup(record, chunk);
  }

  relayEnded(end: RelayEnd): void {
    if (this.relayed) this.ctx.traffic.relayEnded(this.relayed, end.reason);
    this.finish();
  }

  private observeStartup(record: SessionRecord, chunk: Buffer): void {
    if (!this.parser) return;
    const next = feedServerStartup(this.parser, chunk);
    if (next.backendKey && !record.cancelKey) this.ctx.registry.setCancelKey(record, next.backendKey);
    if (next.phase === 'invalid') {
      this.ctx.logger.debug({ event: 'server_startup_unparsed', backend: record.backend, reason: next.reason }, 'stopped parsing the server startup');
    }
    // Startup over (or unparseable): pure byte relay from now on.
    this.parser = next.phase === 'startup' ? next : null;
  }

  // ---- endings ----------------------------------------------------------------------------

  private readonly onClientGone = this.guard((): void => {
    if (this.phase === 'relay' || this.phase === 'done') return;
    this.refuse(this.client.errored ? 'client_error' : 'client_closed');
  });

  private readonly onClientError = (err: Error): void => {
    this.ctx.logger.debug({ event: 'client_error', client: this.clientAddress, err: err.message }, 'client socket error');
  };

  /** Closes a client that never reached the relay, counted under its listener's refusals. */
  private refuse(reason: RefusalReason, message?: Buffer, detail?: string): void {
    if (this.phase === 'done' || this.phase === 'relay') return;
    const { ctx } = this;
    ctx.traffic.refused(reason);
    ctx.logger.debug({ event: 'client_rejected', listener: ctx.listener.name, client: this.clientAddress, reason, detail }, 'client closed');
    this.finish();
    this.dropBackend();
    if (message && !this.client.destroyed && !this.client.writableEnded) this.client.write(message);
    endThenDestroy(this.client);
  }

  /** Releases the timer, the waiter (slot, queue, hold) and the registry entry. Idempotent. */
  private finish(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.clearStartupTimer();
    this.waiter.close();
    this.attempt?.abort();
    this.attempt = null;
    this.untrack();
    this.ctx.closed(this);
  }

  private armStartupTimer(): void {
    this.clearStartupTimer();
    this.startupTimer = setTimeout(this.guard(() => this.refuse('startup_timeout')), this.ctx.timeouts.startup);
  }

  private clearStartupTimer(): void {
    if (this.startupTimer) clearTimeout(this.startupTimer);
    this.startupTimer = null;
  }

  /** Event handlers never throw into the event loop: a bug closes this session only. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.ctx.logger.error({ event: 'session_internal_error', client: this.clientAddress, err }, 'session failed');
        if (this.phase !== 'relay' && this.phase !== 'done') this.ctx.traffic.refused('internal_error');
        this.relay?.kill('internal_error');
        this.finish();
        this.backend?.destroy();
        this.client.destroy();
      }
    };
  }
}
