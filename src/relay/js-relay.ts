// The JS relay engine: bidirectional byte relay between a client and its backend in the event
// loop, with backpressure, half-close and idle timeouts (the contract is in relay.ts). No
// buffers of its own: a chunk goes straight from one socket to the other, and a side whose peer
// cannot keep up is paused until the peer drains.
//
// Memory and CPU per session matter here (thousands of mostly idle sessions per process), so a
// relay allocates two closures (the per-chunk 'data' listeners); the rarer socket events go to
// module-level listeners that find their relay in a WeakMap (no property is added to Node's
// sockets: a new shape would slow their hot paths), and the two idle timeouts share one lazy
// timer. A chunk only stamps the time; the timer, when it fires, looks at the stamp and re-arms
// for the rest, instead of every chunk re-arming a timer per socket (socket.setTimeout).
import type net from 'node:net';
import type { EndReason } from '../sessions/close-reason.js';
import { endThenDestroy } from './end-then-destroy.js';
import type { ByteCounts, Relay, RelayEngine, RelayObserver, RelaySpec, RelayTimeouts } from './relay.js';

export const JS_RELAY: RelayEngine = Object.freeze({
  name: 'js',
  start: (spec: RelaySpec, observer: RelayObserver): Relay => new SocketRelay(spec, observer),
});

const relays = new WeakMap<net.Socket, SocketRelay>();

class SocketRelay implements Relay {
  readonly client: net.Socket;
  readonly server: net.Socket;
  private readonly timeouts: RelayTimeouts;
  private readonly counts: ByteCounts;
  private readonly observeServer: boolean;
  /** The counts when the relay began: RelayEnd reports only what this relay moved. */
  private readonly startIn: number;
  private readonly startOut: number;
  private ended = false;
  /** What a socket reported (error, timeout) before the close. */
  private pendingReason: EndReason | null = null;
  /** The first kill's reason: the router's decision beats whatever a socket reported. */
  private killedWith: EndReason | null = null;
  /** Epoch ms of the last byte either way. Both sockets see every byte (read on one, written on the other). */
  private lastActivity = Date.now();
  private timer: NodeJS.Timeout | null = null;

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
    client.on('data', (chunk: Buffer) => this.data(client, chunk));
    server.on('data', (chunk: Buffer) => this.data(server, chunk));
    for (const socket of [client, server]) {
      relays.set(socket, this);
      socket.on('drain', onDrain);
      // Half-close: a FIN from one side is passed on as a FIN to the other ("Message Flow:
      // Termination": the server closes after Terminate; the client may close first).
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', onClose);
    }
    this.arm(this.shortestTimeout());
    client.resume();
    server.resume();
  }

  kill(reason: EndReason): void {
    if (!this.ended) this.killedWith ??= reason;
    this.client.destroy();
    this.server.destroy();
  }

  peer(socket: net.Socket): net.Socket {
    return socket === this.client ? this.server : this.client;
  }

  data(from: net.Socket, chunk: Buffer): void {
    const to = this.peer(from);
    if (to.destroyed || to.writableEnded) return;
    this.lastActivity = Date.now();
    if (from === this.client) this.counts.bytesIn += chunk.length;
    else {
      this.counts.bytesOut += chunk.length;
      if (this.observeServer) this.observer.relayServerData(chunk);
    }
    if (!to.write(chunk)) from.pause();
  }

  error(socket: net.Socket): void {
    this.pendingReason ??= socket === this.client ? 'client_error' : 'server_error';
  }

  closed(socket: net.Socket): void {
    if (!this.ended) {
      this.ended = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      const reason = this.killedWith ?? this.pendingReason ?? (socket === this.client ? 'client_closed' : 'server_closed');
      this.observer.relayEnded({ reason, bytesIn: this.counts.bytesIn - this.startIn, bytesOut: this.counts.bytesOut - this.startOut });
    }
    endThenDestroy(this.peer(socket));
  }

  /** The lazy idle timer fired: close if a timeout has passed, else wait for the rest. */
  tick(): void {
    this.timer = null;
    if (this.ended) return;
    const idle = Date.now() - this.lastActivity;
    const { client, server } = this.timeouts;
    const expired: EndReason | null = client > 0 && idle >= client ? 'client_timeout' : server > 0 && idle >= server ? 'server_timeout' : null;
    if (expired === null) return this.arm(this.shortestTimeout() - idle);
    this.pendingReason ??= expired;
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
  const from = relays.get(this)?.peer(this);
  if (from && !from.destroyed) from.resume();
}

function onEnd(this: net.Socket): void {
  const to = relays.get(this)?.peer(this);
  if (to && !to.destroyed && !to.writableEnded) to.end();
}

function onError(this: net.Socket): void {
  relays.get(this)?.error(this);
}

function onClose(this: net.Socket): void {
  relays.get(this)?.closed(this);
}

function onTimer(relay: SocketRelay): void {
  relay.tick();
}
