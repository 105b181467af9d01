// A client session from its backend's first answer on: the server's first bytes to the client,
// the cancel-key watch over the server's startup stream (BackendKeyData), and the relay engine
// that moves the bytes from then on. The server's first bytes may reach the client before the
// engine starts (a SCRAM channel binding check reads the client's answer first); the watch
// sees every server byte either way, and with cancel.rewrite_keys writes the client's key over
// the server's in them before they are sent.
import type net from 'node:net';
import type { Logger } from '../log.js';
import type { Relay, RelayEnd, RelayEngine, RelayObserver } from '../relay/relay.js';
import type { EndReason } from '../sessions/close-reason.js';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.js';
import type { TrafficCounter } from '../sessions/traffic.js';
import type { TimeoutsConfig } from '../config/types.js';
import type { KeyRewrite } from '../protocol/server-startup-parser.js';
import { CancelKeyWatch } from './cancel-key-watch.js';

export interface SessionRelayContext {
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  readonly traffic: TrafficCounter;
  readonly relayEngine: RelayEngine;
  /** cancel.rewrite_keys: `rewrite` makes the key the client gets instead of the server's (issue 10). */
  readonly cancel: { readonly rewrite: KeyRewrite | null };
}

export class SessionRelay implements RelayObserver {
  private relay: Relay | null = null;
  /** Until the server's startup phase is over: learns the cancel key from it. */
  private watch: CancelKeyWatch | null;

  /** `parse`: watch the server stream for BackendKeyData (false for TLS passthrough: it is encrypted). */
  constructor(
    private readonly ctx: SessionRelayContext,
    private readonly record: SessionRecord,
    parse: boolean,
    private readonly onEnded: (end: RelayEnd) => void,
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

  /** Starts the engine; `toServer`: client bytes held back until now, sent first. */
  start(client: net.Socket, server: net.Socket, toServer: Buffer): void {
    const { ctx, record } = this;
    ctx.traffic.relayStarted(record);
    if (toServer.length > 0) {
      record.bytesIn += toServer.length;
      server.write(toServer);
    }
    const timeouts = { client: ctx.timeouts.client, server: ctx.timeouts.server };
    this.relay = ctx.relayEngine.start({ client, server, timeouts, counts: record, observeServer: this.watch !== null }, this);
  }

  /** Ends a running relay (a view change, shutdown, a bug); before start() it does nothing. */
  kill(reason: EndReason): void {
    this.relay?.kill(reason);
  }

  get running(): boolean {
    return this.relay !== null;
  }

  // RelayObserver: the engine calls these (methods: no closures per session).

  relayServerData(chunk: Buffer): void {
    if (this.watch?.feed(chunk) === false) this.watch = null;
  }

  relayEnded(end: RelayEnd): void {
    this.ctx.traffic.relayEnded(this.record, end.reason);
    this.onEnded(end);
  }
}
