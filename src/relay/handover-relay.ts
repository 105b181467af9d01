// The native engine as the data path sees it: a session is relayed by the process's relay
// thread (native-engine.ts) from the moment its startup phase is over.
//   - TLS pass-through (observeServer false): handed over at once, right after the server's 'S'.
//   - Parsed sessions (observeServer true): relayed in JS while the session reads the server's
//     startup stream for BackendKeyData; when it answers false (ReadyForQuery), the handover
//     runs in a microtask, so the chunk that ended the startup phase has been written first.
//   - TLS-terminated sessions (a tls.TLSSocket on either side) stay in JS: the fd carries TLS
//     records, not the bytes Node shows. So does a session the thread refuses (every slot
//     taken, a handover precondition that does not hold): it goes on in JS, and is counted.
//
// The handover itself (native-handover.ts): the JS relay lets go of the sockets (detach), both
// stop reading, what Node already read is written to the peer, and once both have flushed the
// thread dup()s the fds and the net.Sockets are destroyed. From then on this object, the
// session's record and its registry entry are all JS keeps of the session.
import net from 'node:net';
import { errorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { EndReason } from '../sessions/close-reason.js';
import type { LiveBytes, RelayReport } from '../sessions/types.js';
import { endThenDestroy } from './end-then-destroy.js';
import { JsRelay, JS_RELAY } from './js-relay.js';
import type { NativeEntry, NativeSessions } from './native-engine.js';
import { resumeReading, settleForHandover } from './native-handover.js';
import type { ByteCounts, Relay, RelayEnd, RelayEngine, RelayObserver, RelaySpec, RelayTimeouts } from './relay.js';

/** Why a session stayed in JS although the engine is native (RelayReport.js_fallbacks). */
export type JsFallback = 'tls' | 'full' | 'handover';

export class NativeRelayEngine implements RelayEngine {
  readonly name = 'native' as const;
  private live = 0;
  private readonly fallbacks = new Map<JsFallback, number>();

  constructor(
    readonly sessions: NativeSessions,
    readonly logger: Logger,
  ) {}

  start(spec: RelaySpec, observer: RelayObserver): Relay {
    // The engine choice per session: native when both sockets are plain TCP sockets.
    if (!isPlain(spec.client) || !isPlain(spec.server)) {
      this.fellBack('tls');
      return JS_RELAY.start(spec, observer);
    }
    return new HandoverRelay(this, spec, observer);
  }

  report(): RelayReport {
    return { engine: 'native', native_sessions: this.live, js_fallbacks: Object.fromEntries(this.fallbacks) };
  }

  adopted(): void {
    this.live++;
  }

  released(): void {
    this.live--;
  }

  fellBack(why: JsFallback): void {
    this.fallbacks.set(why, (this.fallbacks.get(why) ?? 0) + 1);
  }
}

/** A plain TCP socket: not a tls.TLSSocket, whose fd would carry TLS records. */
function isPlain(socket: net.Socket): boolean {
  return socket instanceof net.Socket && !('encrypted' in socket);
}

type State = 'js' | 'settling' | 'native' | 'ended';

class HandoverRelay implements Relay, RelayObserver, NativeEntry, LiveBytes {
  private state: State = 'js';
  /** The sockets, until the thread has them. */
  private client: net.Socket | null;
  private server: net.Socket | null;
  private readonly counts: ByteCounts;
  private readonly timeouts: RelayTimeouts;
  private js: JsRelay | null = null;
  private nativeId = 0;
  /** Tried once: a session the thread refused stays in JS for good. */
  private tried = false;
  private killedWith: EndReason | null = null;
  private readonly startIn: number;
  private readonly startOut: number;

  constructor(
    private readonly engine: NativeRelayEngine,
    spec: RelaySpec,
    private readonly observer: RelayObserver,
  ) {
    this.client = spec.client;
    this.server = spec.server;
    this.counts = spec.counts;
    this.timeouts = spec.timeouts;
    this.startIn = spec.counts.bytesIn;
    this.startOut = spec.counts.bytesOut;
    if (spec.observeServer) this.js = new JsRelay(spec, this);
    else this.handover();
  }

  kill(reason: EndReason): void {
    if (this.state === 'ended') return;
    // Kept in every phase: a kill that meets a handover in progress still names the end.
    this.killedWith ??= reason;
    switch (this.state) {
      case 'js':
        return this.js?.kill(reason);
      case 'settling':
        // The settle fails on the closed sockets, or the adopt that was due sees the kill.
        this.client?.destroy();
        this.server?.destroy();
        return;
      case 'native':
        this.engine.sessions.kill(this.nativeId, reason);
        return;
    }
  }

  // ---- the JS phase (RelayObserver of the JS relay) ----------------------------------------

  relayServerData(chunk: Buffer): boolean {
    const more = this.observer.relayServerData(chunk);
    // After the JS relay's data handler has written this chunk to the client.
    if (!more) queueMicrotask(() => this.handover());
    return more;
  }

  relayEnded(end: RelayEnd): void {
    this.end(end.reason);
  }

  // ---- the native phase (NativeEntry, LiveBytes) ---------------------------------------------

  get bytesIn(): number {
    return this.state === 'native' ? this.engine.sessions.bytesIn(this.nativeId) : 0;
  }

  get bytesOut(): number {
    return this.state === 'native' ? this.engine.sessions.bytesOut(this.nativeId) : 0;
  }

  nativeEnded(reason: EndReason, bytesIn: number, bytesOut: number): void {
    this.counts.bytesIn += bytesIn;
    this.counts.bytesOut += bytesOut;
    this.counts.relayBytes = null;
    this.engine.released();
    // A kill that met the thread's own end (its report already on the way) still names the end,
    // as in the JS relay: the router's decision is why it ended (relay.ts).
    this.end(this.killedWith ?? reason);
  }

  // ---- the handover --------------------------------------------------------------------------

  private handover(): void {
    const { client, server } = this;
    if (this.tried || this.state !== 'js' || !client || !server) return;
    if (this.js && !this.js.detach()) return; // it has already ended
    this.tried = true;
    this.js = null;
    this.state = 'settling';
    settleForHandover(client, server)
      .then(
        () => this.adopt(client, server),
        () => this.settleFailed(client, server),
      )
      .catch((err: unknown) => this.failed(client, server, err));
  }

  /** A bug in the handover: this session ends (internal_error), the process goes on. */
  private failed(client: net.Socket, server: net.Socket, err: unknown): void {
    this.engine.logger.error({ event: 'relay_handover_failed', err }, 'a session failed during its handover');
    if (this.state === 'native') this.engine.sessions.kill(this.nativeId, 'internal_error');
    else {
      this.js?.kill('internal_error');
      client.destroy();
      server.destroy();
      this.end('internal_error');
    }
  }

  private adopt(client: net.Socket, server: net.Socket): void {
    if (this.state !== 'settling') return;
    if (this.killedWith !== null || client.destroyed || server.destroyed) return this.settleFailed(client, server);
    try {
      this.nativeId = this.engine.sessions.adopt(client, server, this.timeouts, this);
    } catch (err) {
      return this.stayInJs(client, server, err);
    }
    this.state = 'native';
    this.client = this.server = null;
    this.counts.relayBytes = this;
    this.engine.adopted();
  }

  /** The thread refused the session (full, or a precondition): it goes on in JS. */
  private stayInJs(client: net.Socket, server: net.Socket, err: unknown): void {
    const why: JsFallback = errorCode(err) === 'PGR_ERR_RELAY_FULL' ? 'full' : 'handover';
    this.engine.fellBack(why);
    this.engine.logger.debug({ event: 'relay_handover_refused', why, err }, 'the native relay refused a session; it stays in the JS relay');
    resumeReading(client);
    resumeReading(server);
    this.state = 'js';
    this.js = new JsRelay({ client, server, timeouts: this.timeouts, counts: this.counts, observeServer: false }, this);
  }

  /** A socket closed or failed while the handover waited for its writes, or a kill came. */
  private settleFailed(client: net.Socket, server: net.Socket): void {
    if (this.state !== 'settling') return;
    const reason: EndReason =
      this.killedWith ??
      (client.errored ? 'client_error' : server.errored ? 'server_error' : client.destroyed ? 'client_closed' : 'server_closed');
    // Like the JS relay: the side still open gets what is queued for it, then the close.
    for (const socket of [client, server]) {
      if (this.killedWith !== null || socket.destroyed) socket.destroy();
      else endThenDestroy(socket);
    }
    this.end(reason);
  }

  private end(reason: EndReason): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.js = null;
    this.client = this.server = null;
    const end = { reason, bytesIn: this.counts.bytesIn - this.startIn, bytesOut: this.counts.bytesOut - this.startOut };
    try {
      this.observer.relayEnded(end);
    } catch (err) {
      // Called from the addon's thread-safe function too, where a throw would end the process.
      this.engine.logger.error({ event: 'relay_end_failed', reason, err }, 'a session failed to take its end');
    }
  }
}
