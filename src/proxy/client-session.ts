// One client connection, from accept to the end of its startup phase: the startup handshake,
// getting a backend (backend-waiter.ts: maxconn queue, hold), the backend's startup
// (backend-startup.ts). Then the session's SessionRelay (session-relay.ts) takes it over with
// the relay (src/relay), and this object is done. A CancelRequest is handed to
// cancel-request.ts: it is not a session.
//
//   startup ──SSLRequest (disable) / GSSENCRequest──► answer 'N', back to startup
//      │ ──SSLRequest / ClientHello (terminate)──► tls_handshake (client-tls.ts) ──► startup, in TLS
//      │ ──CancelRequest──► handleCancelRequest, done
//      │ ──SSLRequest (passthrough) / StartupMessage──► waiting ► connecting
//   connecting ──SSLRequest──► ssl_wait ──'S'──► relay (TLS end to end, never parsed)
//      │                               ──'N'──► startup (backend kept) ──StartupMessage──► server_hello
//      └──StartupMessage──► server_hello ──first server message──► relay (server stream parsed
//                                          until ReadyForQuery, for BackendKeyData)
//                                                     └──► sasl_check ──client's mechanism──► relay
//   (sasl_check: TLS on both legs and PostgreSQL offers SCRAM-SHA-256-PLUS; channel-binding.ts)
//
// Until the client has seen a byte from a backend, a failed or condemned backend is replaced
// by another one (the client never notices): a refused connection, a backend that closes or
// answers the StartupMessage with 57P03 (starting up / shutting down, typical mid-switchover),
// a view change. After that, a kill closes the session.
//
// With ssl: terminate, `client` is replaced by the TLS socket over it once the handshake is
// done; with server_tls, BackendStartup speaks TLS to PostgreSQL before the StartupMessage.
import type net from 'node:net';
import type { ListenerConfig } from '../config/types.js';
import { NO_ENCRYPTION, errorResponse, SQLSTATE } from '../protocol/messages.js';
import type { ServerSasl } from '../protocol/sasl.js';
import type { KillReason } from '../routing/kill.js';
import { killedReason, type EndReason } from '../sessions/close-reason.js';
import { newSessionRecord, type SessionRecord } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import type { RelayEngine } from '../relay/relay.js';
import { BackendStartup, type BackendLostReason, type BackendStartupEvents } from './backend-startup.js';
import { BackendWaiter, type Route, type WaiterContext, type WaiterEvents } from './backend-waiter.js';
import { handleCancelRequest, type CancelContext } from './cancel-request.js';
import { socketOrigin, type ClientOrigin } from './front-door.js';
import { ClientHandshake } from './handshake.js';
import type { UpstreamTls } from './backend-tls.js';
import { channelBindingPlan, SaslGate, sameCertificate } from './channel-binding.js';
import { ClientEnd } from './client-end.js';
import { SessionRelay } from './session-relay.js';
import type { TlsContextStore } from './tls-context-store.js';

/** What a session needs from its listener; the listener implements it. */
export interface SessionContext extends WaiterContext, CancelContext {
  readonly listener: ListenerConfig;
  /** ssl: terminate: the certificate presented to clients (null otherwise). */
  readonly tlsStore: TlsContextStore | null;
  /** server_tls: TLS to PostgreSQL (null: plaintext). */
  readonly upstreamTls: UpstreamTls | null;
  /** This listener's per-backend traffic (a few bumps per session, none per chunk). */
  readonly traffic: TrafficCounter;
  /** What moves the bytes once the startup phase is over. */
  readonly relayEngine: RelayEngine;
  /** The session's SessionRelay took it over (before closed()); see SessionRelayContext. */
  relayStarted(session: SessionRelay): void;
  /** The session, or once it relays its SessionRelay, released everything (called once each). */
  closed(session: ClientSession | SessionRelay): void;
}

/**
 * Keeps a relayed socket's errors handled while the relay changes hands (the native engine's
 * handover): the relay learns of them through 'close' and counts them (client_error,
 * server_error), and the session's own loggers would keep this object alive.
 */
function relayPhaseError(): void {
  // Nothing to do here: see above.
}

/** Shared by every session's empty accumulators: never written to, it only stands for "nothing yet". */
const EMPTY = Buffer.alloc(0);

export class ClientSession extends ClientEnd implements WaiterEvents, BackendStartupEvents {
  /** Azure Private Link's LINKID from the PROXY v2 header, shown with the session. */
  private readonly linkId: number | null;
  /** sasl_check: the client's first bytes after AuthenticationSASL. */
  private gate: SaslGate | null = null;
  private readonly handshake = new ClientHandshake();
  /** What to send once a backend is connected: an SSLRequest, or the StartupMessage (+ pipelined tail). */
  private pending: { kind: 'ssl' } | { kind: 'startup'; readonly packet: Buffer; tail: Buffer } | null = null;
  private readonly waiter: BackendWaiter;
  private backend: BackendStartup | null = null;
  private record: SessionRecord | null = null;
  /** From the backend's first answer on; it takes the session over when the relay starts. */
  private relay: SessionRelay | null = null;

  constructor(
    client: net.Socket,
    ctx: SessionContext,
    readonly id: string,
    origin: ClientOrigin = socketOrigin(client),
  ) {
    super(client, ctx, origin.address);
    this.linkId = origin.linkId;
    this.waiter = new BackendWaiter(ctx, this);
  }

  /** `first`: bytes already read from the client (past a PROXY header), handled as if just received. */
  start(first: Buffer = EMPTY): void {
    const { client, ctx } = this;
    client.setNoDelay(true);
    client.setKeepAlive(true, ctx.timeouts.keepalive);
    this.attachClient(client);
    this.armStartupTimer();
    if (first.length > 0) this.onClientData(first);
  }

  /** Shutdown, or its listener removed: a client not yet relaying gets 57P01 (a relayed one is its SessionRelay's). */
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

  protected readonly onClientData = this.guard((chunk: Buffer): void => {
    if (this.phase === 'sasl_check') return this.checkClientMechanism(chunk);
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
    const { listener } = this.ctx;
    const step = this.handshake.feed(chunk, listener.ssl, listener.tls?.require ?? false);
    switch (step.step) {
      case 'wait':
        return;
      case 'reject':
        return this.refuse(step.reason, step.message, step.detail);
      case 'answer_no':
        this.client.write(NO_ENCRYPTION);
        return;
      case 'start_tls':
        return this.startTls(step.direct, step.hello);
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
    const opts = { timeoutMs: ctx.timeouts.connect, keepaliveMs: ctx.timeouts.keepalive, helloTimeoutMs: ctx.timeouts.server_hello, tls: ctx.upstreamTls };
    this.backend = new BackendStartup(m, opts, this, this.onBackendError);
  }

  onRefuse(reason: 'queue_timeout' | 'no_backend' | 'paused', message: Buffer): void {
    this.refuse(reason, message);
  }

  backendConnected(): void {
    if (this.pending?.kind !== 'ssl') return this.sendStartup();
    this.phase = 'ssl_wait';
    this.backend?.sendSslRequest();
  }

  backendConnectFailed(reason: string, level: 'debug' | 'warn' = 'debug'): void {
    const name = this.record?.backend ?? null;
    if (name !== null) this.ctx.traffic.connectError(name);
    this.ctx.logger[level]({ event: 'backend_connect_failed', backend: name, reason, client: this.clientAddress }, 'backend connect failed');
    this.replaceBackend(name);
  }

  /** A TLS failure is a configuration matter (a CA, a name, a server without ssl): worth a warning. */
  backendTlsFailed(reason: string): void {
    this.backendConnectFailed(reason, 'warn');
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

  backendHello(hello: Buffer, sasl: ServerSasl | null): void {
    const plan = channelBindingPlan(hello, sasl, this.clientTls !== null, () => sameCertificate(this.clientTls, this.backend?.peerCertificate() ?? null));
    if (plan.plan === 'relay') return this.beginRelay(true, plan.hello);
    // The client's answer decides: deliver the offer, hold what it says next (SaslGate).
    const record = this.record;
    if (!record) return this.refuse('internal_error', undefined, 'sasl check without a record');
    this.phase = 'sasl_check';
    this.gate = new SaslGate();
    this.relay = new SessionRelay(this.ctx, record, true);
    this.relay.deliver(this.client, hello);
    this.client.resume();
  }

  private checkClientMechanism(chunk: Buffer): void {
    const verdict = this.gate?.feed(chunk) ?? { verdict: 'wait' };
    if (verdict.verdict === 'refuse') return this.refuse('channel_binding', verdict.message, verdict.detail);
    if (verdict.verdict === 'pass') this.beginRelay(true, EMPTY, verdict.bytes);
  }

  backendLost(why: BackendLostReason): void {
    // The client has read the server's first bytes already: no other backend can take over.
    if (this.phase === 'sasl_check') return this.refuse('backend_closed');
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

  protected dropBackend(): void {
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
    if (this.phase === 'sasl_check') return this.refuse('backend_closed', undefined, `killed: ${reason}`);
    this.relay?.kill(killedReason(reason));
  };

  // ---- the relay (session-relay.ts) -------------------------------------------------------

  /**
   * The startup phase is over: the SessionRelay takes the session over and relays it, and this
   * object lets go of everything (timer, waiter, listeners). `hello`: server bytes already read
   * (the start of its answer), relayed first; `toServer`: client bytes held back.
   */
  private beginRelay(parse: boolean, hello: Buffer = EMPTY, toServer: Buffer = EMPTY): void {
    const { client, ctx } = this;
    const server = this.backend?.release() ?? null;
    this.backend = null;
    const record = this.record;
    if (!server || !record) return this.refuse('internal_error', undefined, 'relay without a backend');
    this.phase = 'relay';
    // Pause before dropping our 'data' listener, or bytes would flow to nobody.
    client.pause();
    this.detachClient(client);
    client.removeListener('error', this.onClientError);
    server.removeListener('error', this.onBackendError);
    client.on('error', relayPhaseError);
    server.on('error', relayPhaseError);
    const pending = this.pending;
    this.pending = null;
    if (pending?.kind === 'startup') record.bytesIn += pending.packet.length + pending.tail.length;
    this.gate = null;
    // sasl_check made it already (and delivered the server's first bytes through it).
    const relay = this.relay ?? new SessionRelay(ctx, record, parse);
    relay.deliver(client, hello);
    // Counted by the listener before this session leaves it (idle() never sees 0 between).
    relay.takeOver(this.waiter.passSlot());
    this.relay = null;
    this.record = null;
    this.finish();
    relay.start(client, server, toServer);
  }

  // ---- endings (ClientEnd's hooks) --------------------------------------------------------

  /** Releases the waiter (slot, queue, hold) and the registry entry (not a relayed one's), and tells the listener. */
  protected released(): void {
    this.waiter.close();
    this.untrack();
    this.ctx.closed(this);
  }

  protected crashed(): void {
    this.relay?.kill('internal_error');
    this.backend?.drop();
  }
}
