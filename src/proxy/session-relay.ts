// A client session from its backend's first answer on: the server's first bytes to the client,
// the cancel-key watch over the server's startup stream (BackendKeyData), and the relay engine
// that moves the bytes from then on. The server's first bytes may reach the client before the
// engine starts (a SCRAM channel binding check reads the client's answer first); the watch
// sees every server byte either way, and with cancel.rewrite_keys writes the client's key over
// the server's in them before they are sent.
//
// Once the relay starts, this is all that stays of the session (issue 12): the ClientSession
// (handshake, waiter, timers, closures) is done and forgotten, and this object holds the
// record, the relay, the maxconn slot and the registry's kill switch until the relay ends. With
// the native engine the sockets are gone too once the relay thread has them
// (relay/handover-relay.ts), so a held idle session costs JS this object, its record and its
// registry entry.
import type net from 'node:net';
import type { Logger } from '../log.js';
import type { Relay, RelayEnd, RelayEngine, RelayObserver } from '../relay/relay.js';
import type { KillReason } from '../routing/kill.js';
import { killedReason, type EndReason } from '../sessions/close-reason.js';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import type { TimeoutsConfig } from '../config/types.js';
import type { Admission } from './admission.js';
import type { KeyRewrite } from '../protocol/server-startup-parser.js';
import { CancelKeyWatch } from './cancel-key-watch.js';

export interface SessionRelayContext {
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  readonly traffic: TrafficCounter;
  readonly relayEngine: RelayEngine;
  /** maxconn: a relayed session keeps its slot until its relay ends. */
  readonly admission: Admission;
  /** The session relays from now on (before its ClientSession is closed). */
  relayStarted(session: SessionRelay): void;
  /** Its relay ended (called once). */
  closed(session: SessionRelay): void;
  /** cancel.rewrite_keys: `rewrite` makes the key the client gets instead of the server's (issue 10). */
  readonly cancel: { readonly rewrite: KeyRewrite | null };
}

export class SessionRelay implements RelayObserver {
  private relay: Relay | null = null;
  /** Until the server's startup phase is over: learns the cancel key from it. */
  private watch: CancelKeyWatch | null;
  /** Holds a maxconn slot (BackendWaiter.passSlot), released when the relay ends. */
  private slot = false;
  /** The registry's kill switch once the relay runs (it replaces the ClientSession's). */
  private readonly onKill = (reason: KillReason): void => this.kill(killedReason(reason));

  /** `parse`: watch the server stream for BackendKeyData (false for TLS passthrough: it is encrypted). */
  constructor(
    private readonly ctx: SessionRelayContext,
    private readonly record: SessionRecord,
    parse: boolean,
  ) {
    this.watch = parse ? new CancelKeyWatch(record, ctx.registry, ctx.logger, ctx.cancel.rewrite) : null;
  }

  /** Server bytes to the client, counted and watched. */
  deliver(client: net.Socket, bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.record.bytesOut += bytes.length;
    this.relayServerData(bytes);
    client.write(bytes);
  }

  /**
   * The session is this object's from now on: the listener counts it, the registry kills it
   * through it, and `slot` (whether it holds a maxconn slot) is given back when the relay ends.
   */
  takeOver(slot: boolean): void {
    this.slot = slot;
    this.ctx.relayStarted(this);
    this.ctx.registry.setKill(this.record, this.onKill);
  }

  /** Starts the engine; `toServer`: client bytes held back until now, sent first. */
  start(client: net.Socket, server: net.Socket, toServer: Buffer): void {
    const { ctx, record } = this;
    ctx.traffic.relayStarted(record);
    if (toServer.length > 0) {
      record.bytesIn += toServer.length;
      server.write(toServer);
    }
    // The config's own (frozen) timeouts are RelayTimeouts: no copy kept per session.
    this.relay = ctx.relayEngine.start({ client, server, timeouts: ctx.timeouts, counts: record, observeServer: this.watch !== null }, this);
  }

  /** Shutdown or a removed listener: a relayed session runs on (until destroy() or its end). */
  shutdown(): void {
    // Only clients still in their startup phase are refused; see Listener.shutdownPending.
  }

  /** Shutdown after the grace period (or a drain's deadline): the relay ends now, with `reason`. */
  destroy(reason: EndReason = 'shutdown'): void {
    this.kill(reason);
  }

  /** Ends a running relay (a view change, shutdown, a bug); before start() it does nothing. */
  kill(reason: EndReason): void {
    this.relay?.kill(reason);
  }

  // RelayObserver: the engine calls these (methods: no closures per session).

  relayServerData(chunk: Buffer): boolean {
    if (this.watch?.feed(chunk) === false) this.watch = null;
    return this.watch !== null;
  }

  relayEnded(end: RelayEnd): void {
    const { ctx, record } = this;
    this.relay = null;
    this.watch = null;
    ctx.traffic.relayEnded(record, end.reason);
    ctx.registry.remove(record);
    if (this.slot) ctx.admission.release();
    this.slot = false;
    ctx.closed(this);
  }
}
