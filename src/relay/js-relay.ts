// The JS relay engine: bidirectional byte relay between a client and its backend in the event
// loop, with backpressure, half-close and idle timeouts (the contract is in relay.ts). No
// buffers of its own: a chunk goes straight from one socket to the other, and a side whose peer
// cannot keep up is paused until the peer drains.
//
// Memory and CPU per session matter here (thousands of mostly idle sessions per process), so a
// relay allocates two closures (the per-chunk 'data' listeners); the rarer socket events go to
// module-level listeners that find their relay in a WeakMap (no property is added to Node's
// sockets: a new shape would slow their hot paths), and the two idle timeouts share one lazy
// timer. A chunk only stamps the time; the timer, when it fires, looks at the stamps and re-arms
// for the rest, instead of every chunk re-arming a timer per socket (socket.setTimeout).
//
// Idle time per side, as the native relay counts it (relay.ts): a side is active when a chunk
// is read from it, or written to it: at once when the write does not queue, else at its
// 'drain' (Node handed the queued bytes to the kernel).
import type net from 'node:net';
import type { EndReason } from '../sessions/close-reason.js';
import { endThenDestroy } from './end-then-destroy.js';
import type { ByteCounts, Relay, RelayEngine, RelayObserver, RelaySpec, RelayTimeouts } from './relay.js';

const JS_REPORT = Object.freeze({ engine: 'js' as const, native_sessions: 0, js_fallbacks: Object.freeze({}) });

export const JS_RELAY: RelayEngine = Object.freeze({
  name: 'js' as const,
  start: (spec: RelaySpec, observer: RelayObserver): Relay => new JsRelay(spec, observer),
  report: () => JS_REPORT,
});

const relays = new WeakMap<net.Socket, JsRelay>();

export class JsRelay implements Relay {
  readonly client: net.Socket;
  readonly server: net.Socket;
  private readonly timeouts: RelayTimeouts;
  private readonly counts: ByteCounts;
  private observeServer: boolean;
  /** The counts when the relay began: RelayEnd reports only what this relay moved. */
  private readonly startIn: number;
  private readonly startOut: number;
  private ended = false;
  /** What a socket reported (error, timeout) before the close. */
  private pendingReason: EndReason | null = null;
  /** The first kill's reason: the router's decision beats whatever a socket reported. */
  private killedWith: EndReason | null = null;
  /** Whose FIN came first: that side closed the session (client_closed / server_closed), as the native relay says. */
  private finFrom: net.Socket | null = null;
  /** Epoch ms each side was last active (a chunk read from it or written to it). */
  private clientActive: number;
  private serverActive: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly onClientData: (chunk: Buffer) => void;
  private readonly onServerData: (chunk: Buffer) => void;

  constructor(
    spec: RelaySpec,
    private readonly observer: RelayObserver,
  ) {
    const { client, server } = spec;
    this.client = client;
    this.server = server;
    this.timeouts = spec.timeouts;
    this.counts = spec.counts;
    this.observeServer = spec.observeServer;
    this.startIn = spec.counts.bytesIn;
    this.startOut = spec.counts.bytesOut;
    this.clientActive = this.serverActive = Date.now();
    this.onClientData = (chunk: Buffer) => this.data(client, chunk);
    this.onServerData = (chunk: Buffer) => this.data(server, chunk);
    client.on('data', this.onClientData);
    server.on('data', this.onServerData);
    for (const socket of [client, server]) {
      relays.set(socket, this);
      socket.on('drain', onDrain);
      // Half-close: a FIN from one side is passed on as a FIN to the other ("Message Flow:
      // Termination": the server closes after Terminate; the client may close first).
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', onClose);
    }
    // A FIN that arrived before this relay listened (a handover that fell back to JS).
    for (const socket of [client, server]) if (socket.readableEnded) onEnd.call(socket);
    this.arm(this.shortestTimeout());
    client.resume();
    server.resume();
  }

  kill(reason: EndReason): void {
    if (!this.ended) this.killedWith ??= reason;
    this.client.destroy();
    this.server.destroy();
  }

  /**
   * Lets go of both sockets without closing them (the native relay takes the session over):
   * every listener and the timer go, and relayEnded will never be called. False if the relay
   * has already ended (the session is over).
   */
  detach(): boolean {
    if (this.ended) return false;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.client.removeListener('data', this.onClientData);
    this.server.removeListener('data', this.onServerData);
    for (const socket of [this.client, this.server]) {
      relays.delete(socket);
      socket.removeListener('drain', onDrain);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    }
    return true;
  }

  peer(socket: net.Socket): net.Socket {
    return socket === this.client ? this.server : this.client;
  }

  data(from: net.Socket, chunk: Buffer): void {
    const to = this.peer(from);
    if (to.destroyed || to.writableEnded) return;
    const now = Date.now();
    if (from === this.client) {
      this.clientActive = now;
      this.counts.bytesIn += chunk.length;
    } else {
      this.serverActive = now;
      this.counts.bytesOut += chunk.length;
      if (this.observeServer && !this.observer.relayServerData(chunk)) this.observeServer = false;
    }
    if (to.write(chunk)) this.stamp(to, now);
    else from.pause();
  }

  /** `socket` was written to (its queued bytes went out). */
  stamp(socket: net.Socket, now = Date.now()): void {
    if (socket === this.client) this.clientActive = now;
    else this.serverActive = now;
  }

  fin(socket: net.Socket): void {
    this.finFrom ??= socket;
    const to = this.peer(socket);
    if (!to.destroyed && !to.writableEnded) to.end();
  }

  error(socket: net.Socket): void {
    this.pendingReason ??= socket === this.client ? 'client_error' : 'server_error';
  }

  closed(socket: net.Socket): void {
    if (!this.ended) {
      this.ended = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      const closer = this.finFrom ?? socket;
      const reason = this.killedWith ?? this.pendingReason ?? (closer === this.client ? 'client_closed' : 'server_closed');
      this.observer.relayEnded({ reason, bytesIn: this.counts.bytesIn - this.startIn, bytesOut: this.counts.bytesOut - this.startOut });
    }
    endThenDestroy(this.peer(socket));
  }

  /** The lazy idle timer fired: close if a side's timeout has passed, else wait for the rest. */
  tick(): void {
    this.timer = null;
    if (this.ended) return;
    const now = Date.now();
    const { client, server } = this.timeouts;
    // Deadlines per side (Infinity: no timeout); the earlier one that passed ends the session.
    const clientDue = client > 0 ? this.clientActive + client : Infinity;
    const serverDue = server > 0 ? this.serverActive + server : Infinity;
    const due = Math.min(clientDue, serverDue);
    if (due > now) return this.arm(due - now);
    this.pendingReason ??= clientDue <= serverDue ? 'client_timeout' : 'server_timeout';
    this.client.destroy();
    this.server.destroy();
  }

  private shortestTimeout(): number {
    const { client, server } = this.timeouts;
    if (client > 0 && server > 0) return Math.min(client, server);
    return client > 0 ? client : server;
  }

  private arm(ms: number): void {
    if (this.shortestTimeout() <= 0) return;
    this.timer = setTimeout(onTimer, Math.max(ms, 1), this);
    this.timer.unref();
  }
}

// Listeners shared by every relayed socket: `this` is the socket.
function onDrain(this: net.Socket): void {
  const relay = relays.get(this);
  if (!relay) return;
  relay.stamp(this);
  const from = relay.peer(this);
  if (!from.destroyed) from.resume();
}

function onEnd(this: net.Socket): void {
  relays.get(this)?.fin(this);
}

function onError(this: net.Socket): void {
  relays.get(this)?.error(this);
}

function onClose(this: net.Socket): void {
  relays.get(this)?.closed(this);
}

function onTimer(relay: JsRelay): void {
  relay.tick();
}
