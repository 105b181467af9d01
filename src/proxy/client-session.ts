// One client connection, from accept to close: the startup handshake, getting a backend
// (backend-waiter.ts: maxconn queue, hold), the backend's startup (backend-startup.ts), then the
// relay (src/relay). A CancelRequest is handed to cancel-request.ts: it is not a session.
//
//   startup ──SSLRequest (disable) / GSSENCRequest──► answer 'N', back to startup
//      │ ──CancelRequest──► handleCancelRequest, done
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
//
// The TLS phase (the TLS work) has two seams: handshakeStep decides what an SSLRequest gets
// (today 'N' or pass-through; terminating would wrap `client` in a TLS socket here and read the
// StartupMessage from it), and upstream TLS belongs to BackendStartup.
import type net from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import { NO_ENCRYPTION, errorResponse, SQLSTATE } from '../protocol/messages.js';
import { endThenDestroy } from '../relay/end-then-destroy.js';
import type { Relay, RelayEnd, RelayEngine, RelayObserver } from '../relay/relay.js';
import type { KillReason } from '../routing/kill.js';
import { killedReason, type EndReason, type RefusalReason } from '../sessions/close-reason.js';
import { newSessionRecord, type SessionRecord } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import { BackendStartup, type BackendLostReason, type BackendStartupEvents } from './backend-startup.js';
import { BackendWaiter, type Route, type WaiterContext, type WaiterEvents } from './backend-waiter.js';
import { CancelKeyWatch } from './cancel-key-watch.js';
import { handleCancelRequest, type CancelContext } from './cancel-request.js';
import { socketOrigin, type ClientOrigin } from './front-door.js';
import { ClientHandshake } from './handshake.js';

/** What a session needs from its listener; the listener implements it. */
export interface SessionContext extends WaiterContext, CancelContext {
  readonly listener: ListenerConfig;
  /** This listener's per-backend traffic (a few bumps per session, none per chunk). */
  readonly traffic: TrafficCounter;
  /** What moves the bytes once the startup phase is over. */
  readonly relayEngine: RelayEngine;
  /** The session released everything (called once). */
  closed(session: ClientSession): void;
}

/** Shared by every session's empty accumulators: never written to, it only stands for "nothing yet". */
const EMPTY = Buffer.alloc(0);

type Phase = 'startup' | 'waiting' | 'connecting' | 'ssl_wait' | 'server_hello' | 'relay' | 'done';

export class ClientSession implements WaiterEvents, BackendStartupEvents, RelayObserver {
  private readonly clientAddress: string;
  private readonly linkId: number | null;
  private phase: Phase = 'startup';
  private readonly handshake = new ClientHandshake();
  /** What to send once a backend is connected: an SSLRequest, or the StartupMessage (+ pipelined tail). */
  private pending: { kind: 'ssl' } | { kind: 'startup'; readonly packet: Buffer; tail: Buffer } | null = null;
  private startupTimer: NodeJS.Timeout | null = null;
  private readonly waiter: BackendWaiter;
  private backend: BackendStartup | null = null;
  private record: SessionRecord | null = null;
  private relay: Relay | null = null;
  /** The record being relayed; kept after a kill takes `record` out of the registry, for the final counts. */
  private relayed: SessionRecord | null = null;
  /** Until the server's startup phase is over: learns the cancel key from it. */
  private watch: CancelKeyWatch | null = null;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: SessionContext,
    readonly id: string,
    origin: ClientOrigin = socketOrigin(client),
  ) {
    this.clientAddress = origin.address;
    this.linkId = origin.linkId;
    this.waiter = new BackendWaiter(ctx, this);
  }

  /** `first`: bytes already read from the client (past a PROXY header), handled as if just received. */
  start(first: Buffer = EMPTY): void {
    const { client, ctx } = this;
    client.setNoDelay(true);
    client.setKeepAlive(true, ctx.timeouts.keepalive);
    client.on('data', this.onClientData);
    client.on('end', this.onClientGone);
    client.on('close', this.onClientGone);
    client.on('error', this.onClientError);
    this.armStartupTimer();
    if (first.length > 0) this.onClientData(first);
  }

  /** Shutdown, or its listener removed: a client not yet relaying gets 57P01; a relayed one runs on. */
  shutdown(reason: 'shutdown' | 'listener_removed' = 'shutdown', message = 'pgrouter is shutting down'): void {
    if (this.phase === 'relay' || this.phase === 'done') return;
    this.refuse(reason, errorResponse(SQLSTATE.ADMIN_SHUTDOWN, message));
  }

  destroy(reason: EndReason = 'shutdown'): void {
    this.relay?.kill(reason);
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
        this.backend?.forward(chunk);
      }
      return;
    }
    const step = this.handshake.feed(chunk, this.ctx.listener.ssl);
    switch (step.step) {
      case 'wait':
        return;
      case 'reject':
        return this.refuse(step.reason, undefined, step.detail);
      case 'answer_no':
        this.client.write(NO_ENCRYPTION);
        return;
      case 'ssl_passthrough':
        this.clearStartupTimer();
        this.pending = { kind: 'ssl' };
        this.phase = 'waiting';
        return this.waiter.begin();
      case 'cancel':
        this.finish();
        this.dropBackend();
        return handleCancelRequest(this.client, this.clientAddress, step.pid, step.key, this.ctx);
      case 'startup':
        this.clearStartupTimer();
        this.pending = { kind: 'startup', packet: step.packet, tail: step.tail };
        // Keep the client's further bytes in the kernel (not here) until the backend is ready.
        this.client.pause();
        if (this.backend?.connectedSocket) return this.sendStartup();
        this.phase = 'waiting';
        return this.waiter.begin();
    }
  });

  // ---- the backend (WaiterEvents, BackendStartupEvents: methods, no closures per session) ---

  onRoute(route: Route): void {
    const { ctx } = this;
    const m = route.member;
    this.phase = 'connecting';
    this.record = newSessionRecord(this.id, ctx.listener.name, m, route.viaFallback, this.clientAddress, ctx.now(), this.linkId);
    // Registered while connecting already: leastconn counts it, and a view change reaches it.
    // The listener is the kill scope: after a reload, views judge it by that listener's rules.
    ctx.registry.add(this.record, this.onKill, ctx);
    this.backend = new BackendStartup(m, ctx.timeouts, this, this.onBackendError);
  }

  onRefuse(reason: 'queue_timeout' | 'no_backend' | 'paused', message: Buffer): void {
    this.refuse(reason, message);
  }

  backendConnected(): void {
    if (this.pending?.kind !== 'ssl') return this.sendStartup();
    this.phase = 'ssl_wait';
    this.backend?.sendSslRequest();
  }

  backendConnectFailed(reason: string): void {
    const name = this.record?.backend ?? null;
    if (name !== null) this.ctx.traffic.connectError(name);
    this.ctx.logger.debug({ event: 'backend_connect_failed', backend: name, reason, client: this.clientAddress }, 'backend connect failed');
    this.replaceBackend(name);
  }

  backendSslAnswer(answer: 'S' | 'N', chunk: Buffer): void {
    this.pending = null;
    if (answer === 'S') {
      // TLS end to end from here: the bytes are encrypted, so they are never parsed.
      this.client.write(chunk);
      return this.beginRelay(false);
    }
    // The client continues in plaintext on the same connection, and so does this backend.
    this.phase = 'startup';
    this.client.write(NO_ENCRYPTION);
    this.armStartupTimer();
  }

  backendHello(hello: Buffer): void {
    this.beginRelay(true, hello);
  }

  backendLost(why: BackendLostReason): void {
    const name = this.record?.backend ?? null;
    if (why !== 'closed' && name !== null) this.ctx.traffic.connectError(name);
    if (why === 'server_hello_timeout') this.ctx.logger.warn({ event: 'backend_no_answer', backend: name, reason: why, phase: this.backend?.awaiting, client: this.clientAddress }, 'backend did not answer in time, trying another');
    // After 'N' and before the StartupMessage: a new backend can take the StartupMessage alone.
    if (this.phase === 'startup') return this.dropBackend();
    this.replaceBackend(name);
  }

  backendProtocolError(detail: string): void {
    this.refuse('backend_protocol', undefined, detail);
  }

  /** Forwards the StartupMessage (and what the client pipelined) and waits for the first answer. */
  private sendStartup(): void {
    if (!this.backend || this.pending?.kind !== 'startup') return this.refuse('internal_error', undefined, 'no startup to send');
    this.phase = 'server_hello';
    this.backend.sendStartup(this.pending.packet, this.pending.tail);
  }

  /** The backend failed (`failed`) or was condemned (null) before the client saw a byte from it. */
  private replaceBackend(failed: string | null): void {
    this.dropBackend();
    this.phase = 'waiting';
    this.waiter.retry(failed);
  }

  private dropBackend(): void {
    this.backend?.drop();
    this.backend = null;
    this.untrack();
  }

  /** Takes the session out of the registry (idempotent). */
  private untrack(): void {
    if (this.record) this.ctx.registry.remove(this.record);
    this.record = null;
  }

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
    const server = this.backend?.release() ?? null;
    this.backend = null;
    const record = this.record;
    if (!server || !record) return this.refuse('internal_error', undefined, 'relay without a backend');
    this.phase = 'relay';
    // Pause before dropping our 'data' listener, or bytes would flow to nobody.
    client.pause();
    // The handshake's listeners go (the relay has its own); the error logger stays.
    client.removeListener('data', this.onClientData);
    client.removeListener('end', this.onClientGone);
    client.removeListener('close', this.onClientGone);
    const pending = this.pending;
    this.pending = null;
    if (pending?.kind === 'startup') record.bytesIn += pending.packet.length + pending.tail.length;
    this.relayed = record;
    this.watch = parse ? new CancelKeyWatch(record, ctx.registry, ctx.logger, ctx.keyRewrite) : null;
    ctx.traffic.relayStarted(record);
    if (hello.length > 0) {
      record.bytesOut += hello.length;
      this.relayServerData(hello);
      client.write(hello);
    }
    const timeouts = { client: ctx.timeouts.client, server: ctx.timeouts.server };
    this.relay = ctx.relayEngine.start({ client, server, timeouts, counts: record, observeServer: parse }, this);
  }

  // RelayObserver: the relay calls these (methods: no closures per session).

  relayServerData(chunk: Buffer): void {
    if (this.watch?.feed(chunk) === false) this.watch = null;
  }

  relayEnded(end: RelayEnd): void {
    if (this.relayed) this.ctx.traffic.relayEnded(this.relayed, end.reason);
    this.finish();
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
        this.backend?.drop();
        this.client.destroy();
      }
    };
  }
}
