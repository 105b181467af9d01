// Who may connect, decided at accept, before the startup handshake reads a byte (issue 11,
// parts 4 and 5). A listener with neither `proxy_protocol` nor `allow` skips this phase.
//
//   accept ──proxy_protocol, source not trusted──► close (proxy_untrusted)
//      │ ──proxy_protocol──► read the header: none (proxy_missing), malformed (proxy_invalid),
//      │                     LOCAL / UNKNOWN (a probe: the connection's own address stands),
//      │                     PROXY (the client's address and Azure's link id from the header)
//      ▼
//   allow? the client's address (after PROXY) in `allow` ──yes──► ClientSession.start(rest)
//      │ no: read the first packet: a StartupMessage gets FATAL 28000, anything else
//      ▼     (SSLRequest, CancelRequest, TLS, garbage) a plain close (not_allowed)
//
// `rest` is what was read past the header: the session's handshake (or TLS) gets it first, so
// a ClientHello or an SSLRequest in the header's own TCP segment is not lost, and 0x16 (direct
// TLS) is looked for only after the header. The header and a refused client's first packet
// must come within timeouts.startup, so a silent connection does not hold a socket.
import type net from 'node:net';
import { addressIn } from '../config/cidr.js';
import type { ListenerConfig, TimeoutsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { errorResponse, NO_ENCRYPTION, SQLSTATE } from '../protocol/messages.js';
import { decodeProxyHeader } from '../protocol/proxy-header.js';
import { decodeStartup, MAX_STARTUP_PACKET } from '../protocol/startup-decoder.js';
import { endThenDestroy } from '../relay/end-then-destroy.js';
import type { RefusalReason } from '../sessions/close-reason.js';
import type { TrafficCounter } from '../sessions/traffic.js';

/** Who the client is, for logs, the session list and the allow-list. */
export interface ClientOrigin {
  /** The client's IP address: from the PROXY header, else the connection's peer. */
  readonly ip: string;
  /** "ip:port", as logs and /admin/sessions show it. */
  readonly address: string;
  /** Azure Private Link's LINKID from the PROXY v2 header, or null. */
  readonly linkId: number | null;
}

export function socketOrigin(socket: net.Socket): ClientOrigin {
  const ip = socket.remoteAddress ?? '?';
  return { ip, address: `${ip}:${socket.remotePort ?? '?'}`, linkId: null };
}

/** Whether a listener reads PROXY headers or checks addresses at all (else no front door). */
export function guardsTheDoor(listener: ListenerConfig): boolean {
  return listener.proxy_protocol !== null || listener.allow !== null;
}

export function isAllowed(listener: ListenerConfig, ip: string): boolean {
  return listener.allow === null || addressIn(listener.allow, ip);
}

/** A denied client's encryption requests answered so far (each may come once). */
export interface DeniedAsked {
  readonly ssl: boolean;
  readonly gssenc: boolean;
}

export type DeniedStep =
  | 'wait'
  /** Answer 'N' and keep reading: the StartupMessage that follows gets the 28000. */
  | { readonly kind: 'no'; readonly request: 'ssl' | 'gssenc' }
  /** Send `message` (or nothing) and close. */
  | { readonly kind: 'refuse'; readonly message: Buffer | null };

/**
 * What a client outside `allow` gets for its next packet (PURE). A StartupMessage: an
 * ErrorResponse 28000, what PostgreSQL answers without a pg_hba.conf entry. An SSLRequest or a
 * GSSENCRequest: 'N', so that libpq (which sends an SSLRequest first with its default
 * sslmode=prefer) goes on to its StartupMessage and shows the 28000, instead of "server closed
 * the connection unexpectedly"; no TLS is ever started for a denied client, and bytes pipelined
 * behind the request close it as in the handshake (CVE-2021-23214). A CancelRequest or anything
 * else: nothing, there is no place for an answer.
 */
export function deniedAnswer(acc: Buffer, ip: string, listener: string, asked: DeniedAsked): DeniedStep {
  const d = decodeStartup(acc);
  if (d.kind === 'incomplete') return acc.length > MAX_STARTUP_PACKET ? { kind: 'refuse', message: null } : 'wait';
  if (d.kind === 'ssl_request' || d.kind === 'gssenc_request') {
    const request = d.kind === 'ssl_request' ? 'ssl' : 'gssenc';
    if (asked[request] || acc.length > d.consumed) return { kind: 'refuse', message: null };
    return { kind: 'no', request };
  }
  if (d.kind !== 'startup') return { kind: 'refuse', message: null };
  const text = `connection from host "${ip}" is not allowed on listener "${listener}" (its allow list)`;
  return { kind: 'refuse', message: errorResponse(SQLSTATE.INVALID_AUTHORIZATION_SPECIFICATION, text) };
}

/** What the front door needs from its listener; the listener implements it. */
export interface FrontDoorContext {
  readonly listener: ListenerConfig;
  readonly timeouts: TimeoutsConfig;
  readonly logger: Logger;
  readonly traffic: TrafficCounter;
  /** The client may go on: its session starts with `rest` (bytes read past the header). */
  admitted(door: FrontDoor, client: net.Socket, origin: ClientOrigin, rest: Buffer): void;
  /** The door refused the client (called once). */
  closed(door: FrontDoor): void;
}

const EMPTY = Buffer.alloc(0);

export class FrontDoor {
  private phase: 'header' | 'denied' | 'done' = 'header';
  private acc: Buffer = EMPTY;
  private timer: NodeJS.Timeout | null = null;
  private asked: DeniedAsked = { ssl: false, gssenc: false };
  private origin: ClientOrigin;
  /** The settings at accept: a reload while the header is on its way does not mix two configs. */
  private readonly config: ListenerConfig;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: FrontDoorContext,
  ) {
    this.config = ctx.listener;
    this.origin = socketOrigin(client);
  }

  start(): void {
    const { client, config, origin } = this;
    const proxy = config.proxy_protocol;
    // Reset before we got to it: no address to judge, and nobody to answer.
    if (client.remoteAddress === undefined) return this.refuse('client_closed', null);
    if (proxy !== null && !addressIn(proxy.trusted, origin.ip)) {
      // Closed unread: a header from anyone would let them choose the address we log and allow.
      return this.refuse('proxy_untrusted', null, `${origin.ip} is not in proxy_protocol.trusted`);
    }
    if (proxy === null) {
      if (isAllowed(config, origin.ip)) return this.admit();
      this.phase = 'denied';
    }
    client.on('data', this.onData);
    client.on('end', this.onGone);
    client.on('close', this.onGone);
    client.on('error', this.onError);
    this.timer = setTimeout(this.onTimeout, this.ctx.timeouts.startup);
  }

  /** Shutdown, or a reload removed the listener: nothing was said yet, so nothing is answered. */
  shutdown(reason: 'shutdown' | 'listener_removed' = 'shutdown'): void {
    this.refuse(reason, null);
  }

  destroy(): void {
    this.refuse('shutdown', null);
    this.client.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.acc = this.acc.length === 0 ? chunk : Buffer.concat([this.acc, chunk]);
      if (this.phase === 'header') this.readHeader();
      if (this.phase === 'denied') this.answerDenied();
    } catch (err) {
      // Never into the event loop: a bug closes this one client.
      this.ctx.logger.error({ event: 'session_internal_error', client: this.origin.address, err }, 'front door failed');
      this.refuse('internal_error', null);
      this.client.destroy();
    }
  };

  private readHeader(): void {
    const proxy = this.config.proxy_protocol;
    if (proxy === null) return this.refuse('internal_error', null, 'no proxy_protocol to read');
    const d = decodeProxyHeader(this.acc, proxy.accept);
    switch (d.kind) {
      case 'incomplete':
        return;
      case 'missing':
        return this.refuse('proxy_missing', null, 'the first bytes are not a PROXY protocol header');
      case 'invalid':
        return this.refuse('proxy_invalid', null, d.reason);
      case 'header': {
        const peer = this.origin.address;
        const ip = d.source?.address ?? this.origin.ip;
        const address = d.source ? `${d.source.address}:${d.source.port}` : peer;
        this.origin = { ip, address, linkId: d.linkId };
        this.acc = this.acc.subarray(d.consumed);
        this.ctx.logger.debug(
          { event: 'proxy_header', listener: this.config.name, peer, client: address, version: d.version, local: d.source === null, link_id: d.linkId },
          'PROXY protocol header',
        );
        if (isAllowed(this.config, ip)) return this.admit();
        this.phase = 'denied';
      }
    }
  }

  private answerDenied(): void {
    const step = deniedAnswer(this.acc, this.origin.ip, this.config.name, this.asked);
    if (step === 'wait') return;
    if (step.kind === 'refuse') return this.refuse('not_allowed', step.message, `${this.origin.ip} is not in allow`);
    this.asked = { ...this.asked, [step.request]: true };
    this.acc = EMPTY;
    this.client.write(NO_ENCRYPTION);
  }

  private admit(): void {
    const { client } = this;
    this.phase = 'done';
    this.clearTimer();
    // Synchronous hand-over: no 'data' event can fall between these listeners and the session's.
    client.removeListener('data', this.onData);
    client.removeListener('end', this.onGone);
    client.removeListener('close', this.onGone);
    client.removeListener('error', this.onError);
    const rest = this.acc;
    this.acc = EMPTY;
    this.ctx.admitted(this, client, this.origin, rest);
  }

  private readonly onTimeout = (): void => {
    this.refuse('startup_timeout', null, this.phase === 'header' ? 'no PROXY protocol header in time' : 'no startup packet in time');
  };

  private readonly onGone = (): void => {
    // A denied client that leaves on its own (libpq with sslmode=require, after our 'N') was
    // still refused for its address: one reason per denied client, whoever closes.
    if (this.phase === 'denied') return this.refuse('not_allowed', null, `${this.origin.ip} is not in allow (client left)`);
    this.refuse(this.client.errored ? 'client_error' : 'client_closed', null);
  };

  private readonly onError = (err: Error): void => {
    this.ctx.logger.debug({ event: 'client_error', client: this.origin.address, err: err.message }, 'client socket error');
  };

  /** Closes the client, counted under its listener's refusals; the error logger stays. */
  private refuse(reason: RefusalReason, message: Buffer | null, detail?: string): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.clearTimer();
    const { ctx, client } = this;
    ctx.traffic.refused(reason);
    ctx.logger.debug({ event: 'client_rejected', listener: this.config.name, client: this.origin.address, reason, detail }, 'client closed');
    if (!client.listenerCount('error')) client.on('error', this.onError);
    if (message && !client.destroyed && !client.writableEnded) client.write(message);
    endThenDestroy(client);
    ctx.closed(this);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
