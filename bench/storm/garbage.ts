// The storm's garbage, in a process of its own so its work does not delay the legitimate
// client's clock: connections that are not PostgreSQL sessions, against one listener.
//
//   random         random bytes (1–512), then wait for the server to close (2 s at most)
//   huge-length    a startup packet whose length is absurd (2^31-1, 10,001, 1 MB, negative, 0)
//   ssl-pipelined  SSLRequest with a plaintext StartupMessage in the same write (CVE-2021-23214)
//   churn          connect, then close at once
//   slowloris      N connections that send a long, valid StartupMessage one byte a second;
//                  one the server closes is opened again
//
// Prints `{"ready":true}` once the slowloris connections are open, then one JSON summary line.
//
//   node dist/bench/storm/garbage.js --port P --seconds S --rate R --slowloris N
import crypto from 'node:crypto';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';

const KINDS = ['random', 'huge-length', 'ssl-pipelined', 'churn'] as const;
type Kind = (typeof KINDS)[number] | 'slowloris';

interface KindStats {
  attempted: number;
  connected: number;
  /** Connect failed (refused, reset, EMFILE): the listener did not take it. */
  connect_failed: number;
  /** The server closed it before we gave up. */
  closed_by_server: number;
  /** Still open when we gave up on it (2 s), or at the end of the storm. */
  closed_by_us: number;
}

const stats = Object.fromEntries([...KINDS, 'slowloris'].map((k) => [k, { attempted: 0, connected: 0, connect_failed: 0, closed_by_server: 0, closed_by_us: 0 }])) as Record<Kind, KindStats>;

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0, 0);
  return b;
}

function startupMessage(extraBytes = 0): Buffer {
  const body = Buffer.from(`user\0postgres\0database\0postgres\0application_name\0${'x'.repeat(extraBytes)}\0\0`, 'utf8');
  return Buffer.concat([int32(8 + body.length), int32(196608), body]);
}

const HUGE = [0x7fffffff, 10_001, 1_000_000, -1, 0, 3];

function payload(kind: (typeof KINDS)[number]): Buffer | null {
  switch (kind) {
    case 'random':
      return crypto.randomBytes(1 + crypto.randomInt(512));
    case 'huge-length':
      return Buffer.concat([int32(HUGE[crypto.randomInt(HUGE.length)]!), int32(196608), crypto.randomBytes(16)]);
    case 'ssl-pipelined':
      return Buffer.concat([int32(8), int32(80877103), startupMessage()]);
    case 'churn':
      return null;
  }
}

/**
 * Opens one connection and calls `onOpen` once connected; `end(how)` counts how it ended
 * (once, whatever fires first) and resolves the returned promise.
 */
function connection(host: string, port: number, s: KindStats, onOpen: (socket: net.Socket, end: (how: keyof KindStats) => void) => void): Promise<void> {
  s.attempted++;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let state: 'connecting' | 'open' | 'done' = 'connecting';
    const end = (how: keyof KindStats): void => {
      if (state === 'done') return;
      state = 'done';
      s[how]++;
      socket.destroy();
      resolve();
    };
    // Whatever the server answers is ignored; a reset or close is how it refuses garbage.
    socket.on('data', () => undefined);
    const lost = (): void => end(state === 'connecting' ? 'connect_failed' : 'closed_by_server');
    socket.on('error', lost);
    socket.on('close', lost);
    socket.once('connect', () => {
      state = 'open';
      s.connected++;
      onOpen(socket, end);
    });
  });
}

/** One garbage connection of `kind`; given up on after 2 s if the server keeps it. */
function garbage(host: string, port: number, kind: (typeof KINDS)[number]): Promise<void> {
  return connection(host, port, stats[kind], (socket, end) => {
    const bytes = payload(kind);
    if (bytes === null) return end('closed_by_us');
    socket.write(bytes);
    const timer = setTimeout(() => end('closed_by_us'), 2000);
    socket.once('close', () => clearTimeout(timer));
  });
}

/** Keeps one slowloris connection open until `until`, reopening it when the server closes it. */
async function slowloris(host: string, port: number, until: number, opened: () => void): Promise<void> {
  // 9,000 bytes: under PostgreSQL's 10,000-byte limit, so it stays "valid" for hours at 1 byte/s.
  const packet = startupMessage(9000 - 60);
  let first = true;
  while (Date.now() < until) {
    await connection(host, port, stats.slowloris, (socket, end) => {
      if (first) opened();
      first = false;
      let sent = 0;
      const tick = (): void => {
        if (Date.now() >= until) return end('closed_by_us');
        socket.write(packet.subarray(sent, sent + 1));
        sent++;
      };
      tick();
      const timer = setInterval(tick, 1000);
      socket.once('close', () => clearInterval(timer));
    });
    // A refusing listener must not turn this into a busy loop.
    await delay(100);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      seconds: { type: 'string', default: '20' },
      rate: { type: 'string', default: '120' },
      slowloris: { type: 'string', default: '200' },
    },
  });
  const port = Number(values.port);
  const until = Date.now() + Number(values.seconds) * 1000;
  const rate = Number(values.rate);
  const held = Number(values.slowloris);
  let opened = 0;
  const loris = Array.from({ length: held }, () => slowloris(values.host, port, until, () => opened++));
  const start = Date.now();
  while (opened < held && Date.now() - start < 10_000) await delay(50);
  process.stdout.write(`${JSON.stringify({ ready: true, slowloris_open: opened })}\n`);
  const inflight = new Set<Promise<void>>();
  // Paced: one connection of each kind in turn, `rate` a second in all, at most 500 in flight.
  for (let i = 0; Date.now() < until; i++) {
    if (inflight.size < 500) {
      const p = garbage(values.host, port, KINDS[i % KINDS.length]!).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await delay(1000 / rate);
  }
  await Promise.all([...inflight, ...loris]);
  process.stdout.write(`${JSON.stringify({ done: true, stats })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`storm garbage failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
