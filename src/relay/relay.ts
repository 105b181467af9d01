// The relay part: what moves a session's bytes once its startup phase is over. A relay is "two
// sockets → byte counts + close reason": the session hands over its client and server sockets,
// and gets back, once, why it ended and how many bytes went each way. Nothing else crosses this
// interface, so a second engine fits next to the JS one (js-relay.ts): a native addon with an
// epoll thread that takes the two file descriptors and splices between them.
//
// What an engine must honour:
//   - bytes are added to `counts` as they pass (the stats page and /metrics read them live); an
//     engine that moves them elsewhere adds them at the latest when it ends, and reports its own
//     totals in RelayEnd;
//   - backpressure and half-close: a FIN from one side is passed on as a FIN to the other
//     ("Message Flow: Termination"), and a side whose peer cannot keep up is not read;
//   - the idle timeouts (0 = none), ending with client_timeout / server_timeout;
//   - kill(reason) destroys both sockets at once and ends with that reason (the first kill's, and
//     over whatever a socket reported just before: the router's decision is why it ended);
//   - relayEnded is called exactly once.
// `observeServer` is the one JS-only duty: while the session still parses the server's startup
// stream (BackendKeyData), every server chunk is shown to it first, and it may rewrite bytes of
// it in place, never changing its length (the cancel key, with cancel.rewrite_keys): the chunk
// is sent on after relayServerData returns. An engine that cannot do that is only given
// sessions with observeServer false (TLS passthrough, or once the startup parse has ended).
import type net from 'node:net';
import type { EndReason } from '../sessions/close-reason.js';

/** A session's byte counts (SessionRecord satisfies it): client → server in, server → client out. */
export interface ByteCounts {
  bytesIn: number;
  bytesOut: number;
}

export interface RelayTimeouts {
  /** Client idle timeout in ms; 0 = none. */
  readonly client: number;
  /** Server idle timeout in ms; 0 = none. */
  readonly server: number;
}

/** What a session hands an engine when its startup phase is over. */
export interface RelaySpec {
  readonly client: net.Socket;
  readonly server: net.Socket;
  readonly timeouts: RelayTimeouts;
  /** Updated as bytes pass. */
  readonly counts: ByteCounts;
  /** Show every server chunk to RelayObserver.relayServerData before relaying it. */
  readonly observeServer: boolean;
}

export interface RelayEnd {
  readonly reason: EndReason;
  /** Bytes this relay moved (the session's startup bytes are not included). */
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** What the relay tells its session. Methods, so a session can pass itself (no closures). */
export interface RelayObserver {
  /** A server chunk, before it is written to the client (only with RelaySpec.observeServer); may be rewritten in place, same length. */
  relayServerData(chunk: Buffer): void;
  /** Called once, when the relay is over. */
  relayEnded(end: RelayEnd): void;
}

export interface Relay {
  /** Ends the session now (a view change killed it, shutdown, a bug): both sockets destroyed. */
  kill(reason: EndReason): void;
}

export interface RelayEngine {
  readonly name: string;
  start(spec: RelaySpec, observer: RelayObserver): Relay;
}
