// The client's end of a session: its socket (the accepted one, or the TLS socket over it once a
// terminating listener's handshake is done), the listeners on it until the relay takes it, the
// startup deadline, and the two ways out before the relay: refused (counted under a
// RefusalReason, logged, an ErrorResponse if there is one, then closed) and released. The
// session (client-session.ts) is the state machine built on it: handshake, backend, relay.
import type net from 'node:net';
import type tls from 'node:tls';
import { endThenDestroy } from '../relay/end-then-destroy.js';
import type { RefusalReason } from '../sessions/close-reason.js';
import type { SessionContext } from './client-session.js';
import { startClientTls, type ClientTlsEvents } from './client-tls.js';
import { SSL_ACCEPTED } from '../protocol/messages.js';

export type Phase = 'startup' | 'tls_handshake' | 'waiting' | 'connecting' | 'ssl_wait' | 'server_hello' | 'sasl_check' | 'relay' | 'done';

export abstract class ClientEnd implements ClientTlsEvents {
  protected phase: Phase = 'startup';
  protected readonly clientAddress: string;
  /** ssl: terminate, once the client's TLS handshake is done: `client` is this socket then. */
  protected clientTls: tls.TLSSocket | null = null;
  private startupTimer: NodeJS.Timeout | null = null;

  /** `clientAddress`: "ip:port", the PROXY header's when the listener reads one. */
  constructor(
    protected client: net.Socket,
    protected readonly ctx: SessionContext,
    clientAddress: string,
  ) {
    this.clientAddress = clientAddress;
  }

  /** Client bytes before the relay. */
  protected abstract readonly onClientData: (chunk: Buffer) => void;
  /** Gives back what the session holds (waiter slot, registry entry) and tells the listener. */
  protected abstract released(): void;
  /** Gives up the backend, if any. */
  protected abstract dropBackend(): void;
  /** A bug: end whatever runs (the relay) before the client is destroyed. */
  protected abstract crashed(): void;

  protected attachClient(client: net.Socket): void {
    client.on('data', this.onClientData);
    client.on('end', this.onClientGone);
    client.on('close', this.onClientGone);
    client.on('error', this.onClientError);
  }

  /** The handshake's listeners go (the relay or the TLS socket has its own); the error logger stays. */
  protected detachClient(client: net.Socket): void {
    client.removeListener('data', this.onClientData);
    client.removeListener('end', this.onClientGone);
    client.removeListener('close', this.onClientGone);
  }

  // ---- the client's TLS (ssl: terminate; client-tls.ts) -------------------------------------

  /** Answers 'S' (unless `direct`) and starts the TLS handshake; `hello`: TLS bytes already read. */
  protected startTls(direct: boolean, hello: Buffer): void {
    const store = this.ctx.tlsStore;
    if (!store) return this.refuse('internal_error', undefined, 'ssl: terminate without a TLS context');
    const raw = this.client;
    this.detachClient(raw);
    raw.pause();
    this.phase = 'tls_handshake';
    if (!direct) raw.write(SSL_ACCEPTED);
    startClientTls(raw, store, direct, hello, this);
  }

  clientTlsReady(socket: tls.TLSSocket): void {
    if (this.phase !== 'tls_handshake') return void socket.destroy();
    this.client = socket;
    this.clientTls = socket;
    this.phase = 'startup';
    this.attachClient(socket);
  }

  clientTlsFailed(reason: 'tls_handshake' | 'tls_alpn', detail: string): void {
    this.refuse(reason, undefined, detail);
  }

  // ---- endings ----------------------------------------------------------------------------

  protected readonly onClientGone = this.guard((): void => {
    if (this.phase === 'relay' || this.phase === 'done') return;
    this.refuse(this.client.errored ? 'client_error' : 'client_closed');
  });

  protected readonly onClientError = (err: Error): void => {
    this.ctx.logger.debug({ event: 'client_error', client: this.clientAddress, err: err.message }, 'client socket error');
  };

  /** Closes a client that never reached the relay, counted under its listener's refusals. */
  protected refuse(reason: RefusalReason, message?: Buffer, detail?: string): void {
    if (this.phase === 'done' || this.phase === 'relay') return;
    // Mid-handshake the socket carries TLS records: a plaintext ErrorResponse would be garbage.
    const canSpeak = this.phase !== 'tls_handshake';
    const { ctx } = this;
    ctx.traffic.refused(reason);
    ctx.logger.debug({ event: 'client_rejected', listener: ctx.listener.name, client: this.clientAddress, reason, detail }, 'client closed');
    this.finish();
    this.dropBackend();
    if (message && canSpeak && !this.client.destroyed && !this.client.writableEnded) this.client.write(message);
    endThenDestroy(this.client);
  }

  /** Releases the timer and what the session holds (released()). Idempotent. */
  protected finish(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.clearStartupTimer();
    this.released();
  }

  protected armStartupTimer(): void {
    this.clearStartupTimer();
    this.startupTimer = setTimeout(this.guard(() => this.refuse('startup_timeout')), this.ctx.timeouts.startup);
  }

  protected clearStartupTimer(): void {
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
        this.crashed();
        this.finish();
        this.client.destroy();
      }
    };
  }
}
