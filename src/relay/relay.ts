// The relay part: what moves a session's bytes once its startup phase is over. A relay is "two
// sockets → byte counts + close reason": the session hands over its client and server sockets,
// and gets back, once, why it ended and how many bytes went each way. Nothing else crosses this
// interface. Two engines implement it:
//   - js (js-relay.ts): the bytes go through Node's streams, in the event loop;
//   - native (native-engine.ts, handover-relay.ts): a relay thread of the addon (native/) takes
//     the sockets' file descriptors once the session's startup phase is over, and moves the
//     bytes below Node's stream layer; JS keeps a record. TLS-terminated sessions, and a session
//     the addon cannot take, stay in the JS relay.
//
// What an engine must honour:
//   - bytes are added to `counts` as they pass (the stats page and /metrics read them live); an
//     engine that counts them elsewhere shows its live counts through `counts.relayBytes`, adds
//     them to `counts` when it ends, and reports its own totals in RelayEnd;
//   - backpressure and half-close: a FIN from one side is passed on as a FIN to the other
//     ("Message Flow: Termination"), and a side whose peer cannot keep up is not read;
//   - the idle timeouts (0 = none), one per side, ending with client_timeout / server_timeout.
//     A side is active when a byte is read from it or written to it (HAProxy's `timeout
//     client` / `timeout server`): a relayed byte wakes both sides, and only a side stuck on a
//     peer that does not read or write goes idle alone;
//   - kill(reason) destroys both sockets at once and ends with that reason (the first kill's, and
//     over whatever a socket reported just before: the router's decision is why it ended);
//   - relayEnded is called exactly once.
// `observeServer` is the one JS-only duty: while the session still parses the server's startup
// stream (BackendKeyData), every server chunk is shown to it first, and it may rewrite bytes of
// it in place, never changing its length (the cancel key, with cancel.rewrite_keys): the chunk
// is sent on after relayServerData returns. That lasts until it answers false; the native engine
// therefore starts such a session in JS and hands it over after that answer.
import type net from 'node:net';
import type { EndReason } from '../sessions/close-reason.js';
import type { LiveBytes, RelayReport } from '../sessions/types.js';

/** A session's byte counts (SessionRecord satisfies it): client → server in, server → client out. */
export interface ByteCounts {
  bytesIn: number;
  bytesOut: number;
  /** Set by an engine that counts elsewhere while it relays (the native one); null otherwise. */
  relayBytes: LiveBytes | null;
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
  /** Show every server chunk to RelayObserver.relayServerData before relaying it, until it answers false. */
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
  /**
   * A server chunk, before it is written to the client (only with RelaySpec.observeServer); may
   * be rewritten in place, same length. false: no more chunks needed (the startup phase is
   * over); the engine stops showing them.
   */
  relayServerData(chunk: Buffer): boolean;
  /** Called once, when the relay is over. */
  relayEnded(end: RelayEnd): void;
}

export interface Relay {
  /** Ends the session now (a view change killed it, shutdown, a bug): both sockets destroyed. */
  kill(reason: EndReason): void;
}

export interface RelayEngine {
  readonly name: 'js' | 'native';
  start(spec: RelaySpec, observer: RelayObserver): Relay;
  /** What the engine did so far (stats, /stats.json, the pgrouter_relay_engine metric). */
  report(): RelayReport;
}
