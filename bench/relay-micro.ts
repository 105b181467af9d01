// Micro-benchmark of the relay engines (issue 12), on loopback, without PostgreSQL: the native
// relay with splice() and with recv/send, against a JavaScript relay (the JS relay's hot path:
// 'data' → write, pause on backpressure, resume on 'drain', FIN passed on).
//
// This process is the relay; the clients and the backend run in a child (lib/relay-load.ts),
// so process.cpuUsage() (all threads, the relay thread included) is the relay's alone:
//   ping-pong: C clients, each sends a request and waits for the response, flat out or at a
//              fixed total rate (--rate, like pgbench -R); CPU µs per round trip;
//   bulk:      one client sends B MiB as fast as it can; MB/s and CPU ms per GiB;
//   idle:      N pairs opened and left idle, through a fresh relay process per engine after N
//              pairs came and went; RSS and fds per pair (after a GC).
// Engines alternate within each round (reversed every other round).
//
//   npm run build && node dist/bench/relay-micro.js [--rounds 2] [--seconds 4] [--clients 16]
//     [--request 100] [--response 400] [--rate 0] [--bulk-mib 1024] [--pairs 2000]
//     [--engines js,splice,copy,auto]
import { once } from 'node:events';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, log, markdownTable, mean, roundOrder } from './lib/common.js';
import { createEngine, ENGINES, listenFront, Peer, type Engine, type EngineName } from './lib/relay-engines.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '4' },
    clients: { type: 'string', default: '16' },
    request: { type: 'string', default: '100' },
    response: { type: 'string', default: '400' },
    rate: { type: 'string', default: '0' },
    'bulk-mib': { type: 'string', default: '1024' },
    pairs: { type: 'string', default: '2000' },
    engines: { type: 'string', default: ENGINES.join(',') },
  },
});
const engines = (args.engines ?? '').split(',') as EngineName[];

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function fds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

interface Figures {
  engine: EngineName;
  cpu_us_per_rt?: number;
  rt_per_s?: number;
  wakeups_per_rt?: number;
  bulk_mb_s?: number;
  bulk_cpu_ms_per_gib?: number;
  rss_kib_per_pair?: number;
  fds_per_pair?: number;
}

async function withEngine<T>(name: EngineName, backendPort: number, fn: (port: number, engine: Engine) => Promise<T>): Promise<T> {
  const before = fds();
  const engine = createEngine(name);
  const server = await listenFront(engine, backendPort);
  try {
    return await fn((server.address() as net.AddressInfo).port, engine);
  } finally {
    server.close();
    // The relay's sockets close after the load's: the next run starts from a quiet process.
    while (engine.live() > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    engine.close();
    while (fds() > before) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function pingpong(load: Peer, name: EngineName, backendPort: number): Promise<Figures> {
  return withEngine(name, backendPort, async (port, engine) => {
    const { clients, seconds, request, response, rate } = args;
    load.send({ op: 'pingpong', front: port, clients: Number(clients), seconds: Number(seconds), request: Number(request), response: Number(response), rate: Number(rate) });
    await load.next('measure');
    const cpu0 = cpuMicros();
    const wake0 = engine.native?.stats().wakeups ?? 0;
    const done = await load.next('done');
    const cpu = cpuMicros() - cpu0;
    const wakeups = (engine.native?.stats().wakeups ?? 0) - wake0;
    await load.next('closed');
    const rt = Number(done.roundTrips);
    return { engine: name, cpu_us_per_rt: cpu / rt, rt_per_s: rt / Number(done.seconds), ...(engine.native ? { wakeups_per_rt: wakeups / rt } : {}) };
  });
}

async function bulk(load: Peer, name: EngineName, backendPort: number): Promise<Figures> {
  return withEngine(name, backendPort, async (port) => {
    const bytes = Number(args['bulk-mib']) * 1024 * 1024;
    load.send({ op: 'bulk', front: port, bytes });
    await load.next('measure');
    const cpu0 = cpuMicros();
    const done = await load.next('done');
    const cpu = cpuMicros() - cpu0;
    await load.next('closed');
    return { engine: name, bulk_mb_s: bytes / 1e6 / Number(done.seconds), bulk_cpu_ms_per_gib: cpu / 1000 / (bytes / 2 ** 30) };
  });
}

/** Idle pairs, each engine in a fresh relay process (lib/relay-idle.ts). */
async function idle(load: Peer, name: EngineName, backendPort: number): Promise<Figures> {
  // A 1 MiB young generation: V8 grows it with the handshakes' short-lived objects and keeps it,
  // which would swamp what a pair retains (docs/architecture.md, the young-generation knob).
  const relay = new Peer(path.join(HERE, 'lib', 'relay-idle.js'), [name, String(backendPort)], ['--max-semi-space-size=1']);
  const port = Number((await relay.next('ready')).port);
  const pairs = Number(args.pairs);
  // Steady state first: as many sessions come and go (100 at a time) as will be held, so V8's
  // heap has grown to its working size (the handover's short-lived net.Sockets) before the base.
  load.send({ op: 'churn', front: port, pairs });
  await load.next('churned');
  relay.send({ op: 'base' });
  const base = await relay.next('based');
  load.send({ op: 'hold', front: port, pairs });
  await load.next('held');
  relay.send({ op: 'measure' });
  const held = await relay.next('measured');
  if (process.env.DEBUG_RELAY_MICRO) log(`${name}: base ${JSON.stringify(base)} held ${JSON.stringify(held)}`);
  load.send({ op: 'release' });
  await load.next('closed');
  relay.send({ op: 'exit' });
  await once(relay.child, 'exit');
  return { engine: name, rss_kib_per_pair: (Number(held.rss) - Number(base.rss)) / pairs, fds_per_pair: (Number(held.fds) - Number(base.fds)) / pairs };
}

async function main(): Promise<void> {
  const load = new Peer(path.join(HERE, 'lib', 'relay-load.js'));
  load.send({ op: 'listen' });
  const backendPort = Number((await load.next('listening')).port);
  const runs: Figures[] = [];
  const rounds = Number(args.rounds);
  for (let round = 0; round < rounds; round++) {
    for (const name of roundOrder(engines, round)) {
      log(`round ${round + 1}/${rounds}: ${name}`);
      runs.push({ ...(await pingpong(load, name, backendPort)), ...(await bulk(load, name, backendPort)) });
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const name of roundOrder(engines, round)) runs.push(await idle(load, name, backendPort));
  }
  load.send({ op: 'exit' });
  const avg = (name: EngineName, key: keyof Figures): number => mean(runs.filter((r) => r.engine === name && typeof r[key] === 'number').map((r) => r[key] as number));
  const rows = engines.map((name) => [
    name,
    fmt(avg(name, 'cpu_us_per_rt'), 1),
    fmt(avg(name, 'rt_per_s'), 0),
    fmt(avg(name, 'wakeups_per_rt'), 2),
    fmt(avg(name, 'bulk_mb_s'), 0),
    fmt(avg(name, 'bulk_cpu_ms_per_gib'), 0),
    fmt(avg(name, 'rss_kib_per_pair'), 2),
    fmt(avg(name, 'fds_per_pair'), 2),
  ]);
  const header = ['engine', 'CPU µs / round trip', 'round trips/s', 'epoll wakeups / rt', 'bulk MB/s', 'bulk CPU ms / GiB', 'RSS KiB / idle pair', 'fds / idle pair'];
  process.stdout.write(`${markdownTable(header, rows)}\n\n${JSON.stringify({ args, runs })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`relay-micro: ${String(err)}\n`);
  process.exit(1);
});
