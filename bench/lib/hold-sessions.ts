// Opens N PostgreSQL sessions through a port and holds them, as its own process, so the proxy
// under test is the only thing whose memory grows in the process we measure:
//
//   node dist/bench/lib/hold-sessions.js --port P --count N [--concurrency C] [--timeout-ms T]
//
// Prints `{"ev":"opened", ok, failed, seconds, rate_per_s, ...}` once every session is open (or
// failed), then holds them until a line `close` arrives on stdin (or stdin ends), closes them
// with Terminate, prints `{"ev":"closed", lost}` and exits. `lost`: sessions that ended on their
// own while held (a proxy that dropped them).
import readline from 'node:readline';
import type net from 'node:net';
import { parseArgs } from 'node:util';
import { closeSession, openSession } from './pg-client.js';

function emit(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      count: { type: 'string' },
      concurrency: { type: 'string', default: '100' },
      'timeout-ms': { type: 'string', default: '20000' },
    },
  });
  const port = Number(values.port);
  const count = Number(values.count);
  const concurrency = Number(values.concurrency);
  const timeoutMs = Number(values['timeout-ms']);
  if (![port, count, concurrency, timeoutMs].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error('usage: hold-sessions.js --port P --count N [--concurrency C] [--timeout-ms T]');
  }
  const held: net.Socket[] = [];
  const errors = new Map<string, number>();
  let closing = false;
  let lost = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  let lastOpen = started;
  // `concurrency` lanes, each opening sessions one after the other: at most that many
  // handshakes in flight, as a connection pool warming up would do.
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        const socket = await openSession(values.host, port, timeoutMs);
        lastOpen = process.hrtime.bigint();
        socket.once('close', () => {
          if (!closing) lost++;
        });
        held.push(socket);
      } catch (err) {
        const why = (err as Error).message;
        errors.set(why, (errors.get(why) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  const seconds = Number(lastOpen - started) / 1e9;
  emit({
    ev: 'opened',
    requested: count,
    ok: held.length,
    failed: count - held.length,
    concurrency,
    seconds,
    rate_per_s: seconds > 0 ? held.length / seconds : null,
    errors: Object.fromEntries(errors),
  });
  const input = readline.createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => {
    input.on('line', (line) => {
      if (line.trim() === 'close') resolve();
    });
    input.once('close', () => resolve());
  });
  closing = true;
  await Promise.all(
    held.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.closed) return resolve();
          socket.once('close', () => resolve());
          closeSession(socket);
          // A proxy that never closes its side: do not wait for it forever.
          setTimeout(() => socket.destroy(), 5000).unref();
        }),
    ),
  );
  emit({ ev: 'closed', lost });
  input.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`hold-sessions: ${(err as Error).message}\n`);
  process.exit(1);
});
