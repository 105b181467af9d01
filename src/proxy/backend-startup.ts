// The backend side of a session's startup phase: the TCP connection to one member, the
// SSLRequest passed on to it (ssl: passthrough), the StartupMessage, and the first message of
// the server's answer. It owns the backend socket until the session hands it to the relay
// (release()), and reports what happened through BackendStartupEvents; the session decides
// what to do about it (replace the backend, answer the client, start the relay).
//
//   connecting ──connected──► idle ──sendSslRequest──► ssl_wait ──'S'/'N'──► idle (after 'N')
//                               └──sendStartup──► server_hello ──first message──► (released)
//
// The first-answer deadline (timeouts.server_hello, issue 10): armed when the SSLRequest or the
// StartupMessage is sent, cleared by the answer ('S'/'N', or the first complete message). A
// backend that accepted and never answers (a frozen postmaster, a VM pause, a partition right
// after connect, pg_hba.conf host names with a hanging DNS) is reported as lost, like a 57P03:
// the client has seen no byte, so the session moves it to another backend or holds it.
//
// Seams for what comes next:
//   - upstream TLS (the TLS work): after 'S' the socket is wrapped here (tls.connect over it)
//     and the StartupMessage goes through the TLS socket, instead of relaying the raw bytes.
import type net from 'node:net';
import type { TimeoutsConfig } from '../config/types.js';
import { firstServerMessage } from '../protocol/server-startup-parser.js';
import { SQLSTATE, sslRequestPacket } from '../protocol/messages.js';
import { connectBackend, type ConnectAttempt, type ConnectResult } from './backend-connect.js';

/** What the session hears from its backend during the startup phase. */
export interface BackendStartupEvents {
  /** Connected: send it an SSLRequest or the StartupMessage. */
  backendConnected(): void;
  /** The connection failed; `reason` is its error label (ECONNREFUSED, timeout, ...). */
  backendConnectFailed(reason: string): void;
  /** The server answered the SSLRequest: 'S' (TLS end to end from here) or 'N' (plaintext, same connection). */
  backendSslAnswer(answer: 'S' | 'N', chunk: Buffer): void;
  /** The first message of the answer to the StartupMessage (not a 57P03): `hello` are the bytes read so far. */
  backendHello(hello: Buffer): void;
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

type Phase = 'connecting' | 'idle' | 'ssl_wait' | 'server_hello' | 'done';

/** Why a backend was given up before the client saw a byte of it. */
export type BackendLostReason = 'closed' | 'cannot_connect_now' | 'server_hello_timeout';

/** timeouts.connect, keepalive, and server_hello (SSLRequest or StartupMessage sent → first answer). */
export type BackendStartupTimeouts = Pick<TimeoutsConfig, 'connect' | 'keepalive' | 'server_hello'>;

const EMPTY = Buffer.alloc(0);

export class BackendStartup {
  private phase: Phase = 'connecting';
  private attempt: ConnectAttempt | null;
  private sock: net.Socket | null = null;
  /** Server bytes held back until its first message is known (phase server_hello). */
  private hello: Buffer = EMPTY;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onClose: () => void;
  private helloTimer: NodeJS.Timeout | null = null;

  constructor(
    target: { readonly host: string; readonly port: number },
    private readonly timeouts: BackendStartupTimeouts,
    private readonly events: BackendStartupEvents,
    private readonly onError: (err: Error) => void,
  ) {
    this.onData = events.guard((chunk: Buffer) => this.data(chunk));
    this.onClose = events.guard(() => this.closed());
    const opts = { timeoutMs: timeouts.connect, keepaliveMs: timeouts.keepalive };
    this.attempt = connectBackend(target, opts, events.guard((result: ConnectResult) => this.connected(result)));
  }

  /** The phase the deadline was armed in, for the log ('ssl' or 'startup'), or null when answered. */
  get awaiting(): 'ssl' | 'startup' | null {
    return this.phase === 'ssl_wait' ? 'ssl' : this.phase === 'server_hello' ? 'startup' : null;
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
    this.detach();
    socket?.destroy();
  }

  private armHello(): void {
    this.clearHello();
    this.helloTimer = setTimeout(this.onHelloTimeout, this.timeouts.server_hello);
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

  private detach(): void {
    this.clearHello();
    this.phase = 'done';
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
    this.sock = socket;
    this.phase = 'idle';
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('data', this.onData);
    this.events.backendConnected();
  }

  private data(chunk: Buffer): void {
    if (this.phase === 'server_hello') return this.serverHello(chunk);
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
    this.clearHello();
    if (first.kind === 'error' && first.sqlstate === SQLSTATE.CANNOT_CONNECT_NOW) return this.events.backendLost('cannot_connect_now');
    const hello = this.hello;
    this.hello = EMPTY;
    this.events.backendHello(hello);
  }

  private closed(): void {
    if (this.phase === 'done') return;
    this.clearHello();
    this.phase = 'done';
    this.events.backendLost('closed');
  }
}
