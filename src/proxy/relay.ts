// Bidirectional byte relay between a client and its backend, with backpressure, half-close and
// idle timeouts. No buffers of its own: a chunk goes straight from one socket to the other, and
// a side whose peer cannot keep up is paused until the peer drains.
//
// Memory and CPU per session matter here (thousands of mostly idle sessions per process), so a
// relay allocates two closures (the per-chunk 'data' listeners); the rarer socket events go to
// module-level listeners that find their relay in a WeakMap (no property is added to Node's
// sockets: a new shape would slow their hot paths), and the two idle timeouts share one lazy
// timer. A chunk only stamps the time; the timer, when it fires, looks at the stamp and re-arms
// for the rest, instead of every chunk re-arming a timer per socket (socket.setTimeout).
import type net from 'node:net';

export type RelayEnd =
  | 'client_closed'
  | 'server_closed'
  | 'client_error'
  | 'server_error'
  | 'client_timeout'
  | 'server_timeout'
  | 'destroyed';

/** What the relay tells its session. Methods, so a session can pass itself (no closures). */
export interface RelayHooks {
  /** Every chunk from the client, before it is written to the server. */
  relayClientData(chunk: Buffer): void;
  /** Every chunk from the server, before it is written to the client. */
  relayServerData(chunk: Buffer): void;
  /** Called once, when the first of the two sockets is closed: the session is over. */
  relayEnded(reason: RelayEnd): void;
}

export interface RelayTimeouts {
  /** Client idle timeout in ms; 0 = none. */
  readonly client: number;
  /** Server idle timeout in ms; 0 = none. */
  readonly server: number;
}

/** How long the surviving side may take to flush its pending bytes after the other closed. */
const CLOSE_LINGER_MS = 10_000;

export interface Relay {
  /** Destroys both sockets at once (a view change killed the session, or shutdown). */
  destroy(): void;
}

/** Ends `socket` (flushing what is queued) and destroys it once flushed, or after a linger limit. */
export function endThenDestroy(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  const linger = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.once('finish', () => socket.destroy());
  if (!socket.writableEnded) socket.end();
}

const relays = new WeakMap<net.Socket, SocketRelay>();

export function startRelay(client: net.Socket, server: net.Socket, timeouts: RelayTimeouts, hooks: RelayHooks): Relay {
  return new SocketRelay(client, server, timeouts, hooks);
}

class SocketRelay implements Relay {
  private ended = false;
  private pendingReason: RelayEnd | null = null;
  /** Epoch ms of the last byte either way. Both sockets see every byte (read on one, written on the other). */
  private lastActivity = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly client: net.Socket,
    readonly server: net.Socket,
    private readonly timeouts: RelayTimeouts,
    private readonly hooks: RelayHooks,
  ) {
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

  destroy(): void {
    this.pendingReason ??= 'destroyed';
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
    if (from === this.client) this.hooks.relayClientData(chunk);
    else this.hooks.relayServerData(chunk);
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
      this.hooks.relayEnded(this.pendingReason ?? (socket === this.client ? 'client_closed' : 'server_closed'));
    }
    endThenDestroy(this.peer(socket));
  }

  /** The lazy idle timer fired: close if a timeout has passed, else wait for the rest. */
  tick(): void {
    this.timer = null;
    if (this.ended) return;
    const idle = Date.now() - this.lastActivity;
    const { client, server } = this.timeouts;
    const expired: RelayEnd | null = client > 0 && idle >= client ? 'client_timeout' : server > 0 && idle >= server ? 'server_timeout' : null;
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
