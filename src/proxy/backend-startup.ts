// The backend side of a session's startup phase: the TCP connection to one member, the
// SSLRequest passed on to it (ssl: passthrough), pgrouter's own TLS to it (server_tls), the
// StartupMessage, and the first message of the server's answer. It owns the backend socket
// until the session hands it to the relay (release()), and reports what happened through
// BackendStartupEvents; the session decides what to do about it (replace the backend, answer
// the client, start the relay).
//
//   connecting ──connected──► idle ──sendSslRequest──► ssl_wait ──'S'/'N'──► idle (after 'N')
//        │                     └──sendStartup──► server_hello ──first message──► held ──► (released)
//        └─server_tls─► tls_answer ──'S'──► tls_handshake ──► idle (TLS)
//                                  └─'N'──► idle (plaintext; prefer only)
//
// With server_tls the first message is held until the server's first authentication request
// is known (protocol/sasl.ts): the session handles SCRAM channel binding with it.
//
// The first-answer deadline (timeouts.server_hello, issue 10): armed when the SSLRequest or the
// StartupMessage is sent, cleared by the answer ('S'/'N', or the first message, complete with
// its authentication request over server_tls). A backend that accepted and never answers (a
// frozen postmaster, a VM pause, a partition right after connect, pg_hba.conf host names with a
// hanging DNS) is reported as lost, like a 57P03: the client has seen no byte, so the session
// moves it to another backend or holds it.
import type net from 'node:net';
import type tls from 'node:tls';
import { firstServerMessage } from '../protocol/server-startup-parser.js';
import { SQLSTATE, sslRequestPacket } from '../protocol/messages.js';
import { findServerSasl, type ServerSasl } from '../protocol/sasl.js';
import { connectBackend, type ConnectAttempt, type ConnectResult } from './backend-connect.js';
import { connectUpstreamTls, type UpstreamTls, type UpstreamTlsResult } from './backend-tls.js';

/** What the session hears from its backend during the startup phase. */
export interface BackendStartupEvents {
  /** Connected: send it an SSLRequest or the StartupMessage. */
  backendConnected(): void;
  /** The connection failed; `reason` is its error label (ECONNREFUSED, timeout, ...). */
  backendConnectFailed(reason: string): void;
  /** The server answered the SSLRequest: 'S' (TLS end to end from here) or 'N' (plaintext, same connection). */
  backendSslAnswer(answer: 'S' | 'N', chunk: Buffer): void;
  /** server_tls failed: 'N' where TLS is required, a failed handshake or verification, bytes after 'S'. */
  backendTlsFailed(reason: string): void;
  /**
   * The first message of the answer to the StartupMessage (not a 57P03): `hello` are the bytes
   * read so far. `sasl`: over server_tls, the server's first authentication request (null over plaintext).
   */
  backendHello(hello: Buffer, sasl: ServerSasl | null): void;
  /**
   * The backend closed, or refused the StartupMessage with 57P03 (starting up or shutting down,
   * typical mid-switchover), before the client saw a byte of its answer.
   */
  backendLost(why: BackendLostReason): void;
  /** The server sent something the protocol does not allow here. */
  backendProtocolError(detail: string): void;
  /** Wraps socket callbacks so that a failure closes this client only. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
}

type Phase = 'connecting' | 'tls_answer' | 'tls_handshake' | 'idle' | 'ssl_wait' | 'server_hello' | 'held' | 'done';

/** Why a backend was given up before the client saw a byte of it. */
export type BackendLostReason = 'closed' | 'cannot_connect_now' | 'server_hello_timeout';

export interface BackendStartupOptions {
  /** timeouts.connect */
  readonly timeoutMs: number;
  readonly keepaliveMs: number;
  /** timeouts.server_hello: the SSLRequest or StartupMessage sent → the first answer. */
  readonly helloTimeoutMs: number;
  readonly tls?: UpstreamTls | null;
}

const EMPTY = Buffer.alloc(0);

export class BackendStartup {
  private phase: Phase = 'connecting';
  private attempt: ConnectAttempt | null;
  private sock: net.Socket | null = null;
  /** Server bytes held back until its first message is known (phase server_hello). */
  private hello: Buffer = EMPTY;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onClose: () => void;
  /** server_tls: the TLS socket once the handshake is done (or while it runs). */
  private secure: tls.TLSSocket | null = null;
  private tlsTimer: NodeJS.Timeout | null = null;
  private helloTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly target: { readonly host: string; readonly port: number },
    private readonly opts: BackendStartupOptions,
    private readonly events: BackendStartupEvents,
    private readonly onError: (err: Error) => void,
  ) {
    this.onData = events.guard((chunk: Buffer) => this.data(chunk));
    this.onClose = events.guard(() => this.closed());
    this.attempt = connectBackend(target, opts, events.guard((result: ConnectResult) => this.connected(result)));
  }

  /** The phase the deadline was armed in, for the log ('ssl' or 'startup'), or null when answered. */
  get awaiting(): 'ssl' | 'startup' | null {
    return this.phase === 'ssl_wait' ? 'ssl' : this.phase === 'server_hello' ? 'startup' : null;
  }

  /** Over server_tls: PostgreSQL's certificate in DER (SCRAM channel binding compares it with pgrouter's). */
  peerCertificate(): Buffer | null {
    return this.secure?.getPeerCertificate().raw ?? null;
  }

  /** Connected and not given up (for the session: is there a backend to send to?). */
  get connectedSocket(): net.Socket | null {
    return this.phase === 'done' ? null : this.sock;
  }

  sendSslRequest(): void {
    this.phase = 'ssl_wait';
    this.armHello();
    this.sock?.write(sslRequestPacket());
  }

  /** Forwards the StartupMessage (and what the client pipelined after it) and waits for the answer. */
  sendStartup(packet: Buffer, tail: Buffer): void {
    this.phase = 'server_hello';
    this.hello = EMPTY;
    this.armHello();
    this.sock?.write(packet);
    if (tail.length > 0) this.sock?.write(tail);
  }

  /** Client bytes that arrived while the answer to the StartupMessage is awaited. */
  forward(chunk: Buffer): void {
    if (this.phase === 'server_hello') this.sock?.write(chunk);
  }

  /** Hands the socket over (to the relay): this object stops listening to it; the error logger stays. */
  release(): net.Socket | null {
    const socket = this.connectedSocket;
    this.detach();
    return socket;
  }

  /** Gives the backend up: the attempt is aborted or the socket destroyed. Idempotent. */
  drop(): void {
    this.attempt?.abort();
    this.attempt = null;
    const socket = this.sock;
    const handshaking = this.phase === 'tls_handshake' ? this.secure : null;
    this.detach();
    handshaking?.destroy();
    socket?.destroy();
  }

  private detach(): void {
    this.phase = 'done';
    this.clearTlsTimer();
    this.clearHello();
    // Its late 'close' must not be mistaken for the next backend's.
    this.sock?.removeListener('data', this.onData);
    this.sock?.removeListener('close', this.onClose);
  }

  private connected(result: ConnectResult): void {
    this.attempt = null;
    if (!result.ok) {
      this.phase = 'done';
      return this.events.backendConnectFailed(result.reason);
    }
    const socket = result.socket;
    this.listen(socket);
    const upstream = this.opts.tls;
    if (!upstream) return this.events.backendConnected();
    this.phase = 'tls_answer';
    // The SSLRequest's answer and the handshake share one deadline: a silent server is a dead one.
    this.tlsTimer = setTimeout(this.events.guard(() => this.tlsFailed('TLS: no answer within timeouts.connect')), this.opts.timeoutMs);
    socket.write(sslRequestPacket());
  }

  /** server_tls: the server's one-byte answer to our SSLRequest. */
  private tlsAnswer(chunk: Buffer, upstream: UpstreamTls): void {
    const socket = this.sock;
    if (!socket) return;
    const answer = chunk[0];
    if (answer === 0x53 /* 'S' */ && chunk.length === 1) {
      this.phase = 'tls_handshake';
      // From here the TLS socket reads the connection; its events replace these.
      socket.removeListener('data', this.onData);
      socket.removeListener('close', this.onClose);
      this.secure = connectUpstreamTls(socket, this.target.host, upstream, this.events.guard((r: UpstreamTlsResult) => this.secured(r)));
      return;
    }
    // Bytes behind the 'S' were sent before the handshake: CVE-2021-23214 with pgrouter as the client.
    if (answer === 0x53) return this.tlsFailed('the server sent bytes after its S, before the TLS handshake');
    if (answer === 0x4e /* 'N' */ && chunk.length === 1 && upstream.mode === 'prefer') {
      this.clearTlsTimer();
      this.phase = 'idle';
      return this.events.backendConnected();
    }
    if (answer === 0x4e) return this.tlsFailed(`the server does not accept TLS (it answered N), and server_tls mode is ${upstream.mode}`);
    this.tlsFailed(`unexpected answer to SSLRequest: byte ${String(answer)}`);
  }

  private secured(result: UpstreamTlsResult): void {
    if (this.phase !== 'tls_handshake') {
      if (result.ok) result.socket.destroy();
      return;
    }
    if (!result.ok) return this.tlsFailed(result.reason);
    this.clearTlsTimer();
    this.listen(result.socket);
    this.events.backendConnected();
  }

  /** The connection read from now on: the TCP socket, or over server_tls the TLS socket on it. */
  private listen(socket: net.Socket): void {
    this.sock = socket;
    this.phase = 'idle';
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('data', this.onData);
  }

  private tlsFailed(reason: string): void {
    if (this.phase === 'done') return;
    this.drop();
    this.events.backendTlsFailed(reason);
  }

  private clearTlsTimer(): void {
    if (this.tlsTimer) clearTimeout(this.tlsTimer);
    this.tlsTimer = null;
  }

  private armHello(): void {
    this.clearHello();
    this.helloTimer = setTimeout(this.onHelloTimeout, this.opts.helloTimeoutMs);
  }

  private clearHello(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }

  private readonly onHelloTimeout = (): void => {
    this.helloTimer = null;
    if (this.phase !== 'ssl_wait' && this.phase !== 'server_hello') return;
    this.events.guard(() => this.events.backendLost('server_hello_timeout'))();
  };

  private data(chunk: Buffer): void {
    if (this.phase === 'server_hello') return this.serverHello(chunk);
    if (this.phase === 'tls_answer' && this.opts.tls) return this.tlsAnswer(chunk, this.opts.tls);
    if (this.phase === 'held') return this.events.backendProtocolError('server spoke before the client answered its authentication request');
    if (this.phase !== 'ssl_wait') return this.events.backendProtocolError('server spoke before the startup packet');
    const answer = chunk[0];
    this.clearHello();
    if (answer === 0x53 /* 'S' */) {
      this.phase = 'idle';
      return this.events.backendSslAnswer('S', chunk);
    }
    if (answer === 0x4e /* 'N' */ && chunk.length === 1) {
      this.phase = 'idle';
      return this.events.backendSslAnswer('N', chunk);
    }
    this.events.backendProtocolError(`unexpected answer to SSLRequest: ${String(answer)}`);
  }

  private serverHello(chunk: Buffer): void {
    this.hello = this.hello.length === 0 ? chunk : Buffer.concat([this.hello, chunk]);
    const first = firstServerMessage(this.hello);
    if (first.kind === 'incomplete') return;
    if (first.kind === 'error' && first.sqlstate === SQLSTATE.CANNOT_CONNECT_NOW) {
      this.clearHello();
      return this.events.backendLost('cannot_connect_now');
    }
    // Over TLS PostgreSQL may offer SCRAM-SHA-256-PLUS: the session must see the whole offer.
    const sasl = this.secure ? findServerSasl(this.hello) : null;
    if (sasl?.kind === 'incomplete') return;
    this.clearHello();
    const hello = this.hello;
    this.hello = EMPTY;
    this.phase = 'held';
    this.events.backendHello(hello, sasl);
  }

  private closed(): void {
    if (this.phase === 'done') return;
    this.clearHello();
    this.phase = 'done';
    this.events.backendLost('closed');
  }
}
