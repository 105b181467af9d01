// A session in its relay phase: what stays of a client connection once its startup phase is
// over. The ClientSession (handshake, waiter, timers, closures, the client socket) is done by
// then and forgotten; this keeps the record, the relay that moves the bytes, and, while the
// server's startup stream is still read, the watch that learns the cancel key. With the native
// engine the sockets themselves are gone once the relay thread has them (relay/handover-relay.ts),
// so a held idle session costs JS this object, its record and its registry entry.
import type net from 'node:net';
import type { Logger } from '../log.js';
import type { Relay, RelayEnd, RelayEngine, RelayObserver, RelayTimeouts } from '../relay/relay.js';
import type { KillReason } from '../routing/kill.js';
import { killedReason, type EndReason } from '../sessions/close-reason.js';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import type { Admission } from './admission.js';
import { CancelKeyWatch } from './cancel-key-watch.js';

/** What a relayed session needs from its listener; the listener implements it. */
export interface RelayContext {
  /** maxconn: a relayed session keeps its slot until its relay ends. */
  readonly admission: Admission;
  readonly traffic: TrafficCounter;
  readonly registry: SessionRegistry;
  readonly logger: Logger;
  readonly relayEngine: RelayEngine;
  /** The relay ended (called once). */
  relayClosed(session: RelayedSession): void;
}

export class RelayedSession implements RelayObserver {
  private relay: Relay | null = null;
  /** Until the server's startup phase is over: learns the cancel key from it. */
  private watch: CancelKeyWatch | null;
  /** The registry's kill switch for this session (it replaces the ClientSession's). */
  private readonly onKill = (reason: KillReason): void => this.relay?.kill(killedReason(reason));

  /** `slot`: the session holds a maxconn slot (BackendWaiter.passSlot), released when the relay ends. */
  constructor(
    private readonly record: SessionRecord,
    private readonly ctx: RelayContext,
    parse: boolean,
    private slot: boolean,
  ) {
    this.watch = parse ? new CancelKeyWatch(record, ctx.registry, ctx.logger) : null;
  }

  /**
   * Relays from now on. `hello`: server bytes already read (the start of its answer), shown to
   * the watch and written to the client first; if they hold the whole startup phase, the relay
   * starts without watching (and the native engine takes the session at once).
   */
  start(client: net.Socket, server: net.Socket, hello: Buffer, timeouts: RelayTimeouts): void {
    const { record, ctx } = this;
    ctx.traffic.relayStarted(record);
    ctx.registry.setKill(record, this.onKill);
    if (hello.length > 0) {
      record.bytesOut += hello.length;
      this.relayServerData(hello);
      client.write(hello);
    }
    this.relay = ctx.relayEngine.start({ client, server, timeouts, counts: record, observeServer: this.watch !== null }, this);
  }

  /** Shutdown after the grace period, or a bug: ends the relay now. */
  destroy(reason: EndReason = 'shutdown'): void {
    this.relay?.kill(reason);
  }

  // RelayObserver: the relay calls these (methods: no closures per session).

  relayServerData(chunk: Buffer): boolean {
    if (this.watch?.feed(chunk) === false) this.watch = null;
    return this.watch !== null;
  }

  relayEnded(end: RelayEnd): void {
    const { record, ctx } = this;
    this.relay = null;
    this.watch = null;
    ctx.traffic.relayEnded(record, end.reason);
    ctx.registry.remove(record);
    if (this.slot) ctx.admission.release();
    this.slot = false;
    ctx.relayClosed(this);
  }
}
