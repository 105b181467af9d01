// Loopback session pairs for the relay tests: a test client, the router's two sockets (the
// accepted client socket and its backend connection, to be handed to a relay) and a test
// server, plus deterministic byte streams and an fd count.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { waitFor } from '../../harness/wait.js';

export interface Pair {
  /** The test's client, connected to the router's front. */
  readonly client: net.Socket;
  /** The router's accepted client socket. */
  readonly front: net.Socket;
  /** The router's backend connection. */
  readonly back: net.Socket;
  /** The test's server, the backend's end of `back`. */
  readonly server: net.Socket;
}

class Acceptor {
  readonly server: net.Server;
  private readonly ready: net.Socket[] = [];
  private readonly waiting: Array<(socket: net.Socket) => void> = [];

  constructor() {
    // allowHalfOpen as in the router (listener.ts, backend-connect.ts): a FIN is passed on.
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(socket);
      else this.ready.push(socket);
    });
  }

  next(): Promise<net.Socket> {
    const socket = this.ready.shift();
    if (socket) return Promise.resolve(socket);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }
}

export class Pairs {
  private readonly frontAcceptor = new Acceptor();
  private readonly backAcceptor = new Acceptor();
  private readonly opened: Pair[] = [];

  static async start(): Promise<Pairs> {
    const pairs = new Pairs();
    for (const a of [pairs.frontAcceptor, pairs.backAcceptor]) {
      a.server.listen(0, '127.0.0.1');
      await once(a.server, 'listening');
    }
    return pairs;
  }

  /** One session: connected both ways, keepalive set on the router's sockets like the router does. */
  async open(): Promise<Pair> {
    const client = net.connect({ host: '127.0.0.1', port: this.frontAcceptor.port(), allowHalfOpen: true });
    const front = await this.frontAcceptor.next();
    const back = net.connect({ host: '127.0.0.1', port: this.backAcceptor.port(), allowHalfOpen: true, noDelay: true });
    const server = await this.backAcceptor.next();
    if (back.connecting) await once(back, 'connect');
    if (client.connecting) await once(client, 'connect');
    front.setNoDelay(true);
    front.setKeepAlive(true, 60_000);
    back.setKeepAlive(true, 60_000);
    const pair = { client, front, back, server };
    this.opened.push(pair);
    return pair;
  }

  /** Destroys every socket the pairs opened and stops listening. */
  async close(): Promise<void> {
    for (const p of this.opened) for (const s of [p.client, p.front, p.back, p.server]) s.destroy();
    this.opened.length = 0;
    for (const a of [this.frontAcceptor, this.backAcceptor]) {
      a.server.close();
      await once(a.server, 'close');
    }
  }
}

/** Open fds of this process. */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Waits until the process is back to `baseline` fds (sockets close asynchronously). */
export async function fdsBackTo(baseline: number, what: string): Promise<void> {
  await waitFor(() => openFds() <= baseline, { timeoutMs: 15_000, intervalMs: 20, what: `${what}: fds back to ${baseline} (now ${openFds()})` });
}

/** `size` pseudo-random bytes (xorshift32), the same for the same seed: a lost or repeated byte shows. */
export function stream(seed: string, size: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = crypto.createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, size);
}

/** Writes `data` in chunks of varying size, honouring backpressure; resolves when all is queued. */
export async function writeAll(socket: net.Socket, data: Buffer, maxChunk = 65_536): Promise<void> {
  let at = 0;
  let n = 0;
  while (at < data.length) {
    const size = 1 + ((n++ * 7919) % maxChunk);
    const ok = socket.write(data.subarray(at, at + size));
    at += size;
    if (!ok) await once(socket, 'drain');
  }
}

/** Collects what `socket` receives. */
export function collect(socket: net.Socket): { readonly chunks: Buffer[]; bytes(): number; data(): Buffer } {
  const chunks: Buffer[] = [];
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
  });
  return { chunks, bytes: () => bytes, data: () => Buffer.concat(chunks) };
}
