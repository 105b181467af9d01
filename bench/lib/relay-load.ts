// The load side of bench/relay-micro.ts, in its own process so the relay process's CPU is the
// relay's alone: test clients that connect to the relay's front port, and the backend they
// reach through it. Driven over IPC by the parent, one operation at a time:
//   listen                     → the backend's port
//   pingpong front clients seconds request response rate
//                              → 'measure' when warm, then 'done' with the round trips
//                                (rate: round trips per second over all clients; 0 = flat out)
//   bulk front bytes           → 'measure' once connected, 'done' when the backend got it all
//   hold front pairs           → 'held' once every pair answered an echo; 'release' closes them
//   churn front pairs          → opens and closes that many pairs, 100 at a time → 'churned'
import net from 'node:net';
import { once } from 'node:events';

type Mode = 'pingpong' | 'bulk' | 'echo';

interface Op {
  op: 'listen' | 'pingpong' | 'bulk' | 'hold' | 'churn' | 'release' | 'exit';
  front?: number;
  clients?: number;
  seconds?: number;
  request?: number;
  response?: number;
  rate?: number;
  bytes?: number;
  pairs?: number;
}

let mode: Mode = 'echo';
let responseSize = 0;
let requestSize = 0;
let bulkReceived = 0;
let bulkWanted = 0;
let bulkDone: (() => void) | null = null;
let held: net.Socket[] = [];

function send(message: object): void {
  process.send?.(message);
}

const backend = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  let pending = 0;
  socket.on('data', (chunk: Buffer) => {
    if (mode === 'echo') return void socket.write(chunk);
    if (mode === 'bulk') {
      bulkReceived += chunk.length;
      if (bulkReceived >= bulkWanted) bulkDone?.();
      return;
    }
    // pingpong: one response per complete request
    pending += chunk.length;
    while (pending >= requestSize) {
      pending -= requestSize;
      socket.write(Buffer.alloc(responseSize, 0x52));
    }
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
});

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(
    sockets.map((s) => {
      const closed = new Promise((resolve) => s.once('close', resolve));
      s.destroy();
      return closed;
    }),
  );
}

async function pingpong(o: Required<Pick<Op, 'front' | 'clients' | 'seconds' | 'request' | 'response' | 'rate'>>): Promise<void> {
  mode = 'pingpong';
  requestSize = o.request;
  responseSize = o.response;
  const request = Buffer.alloc(o.request, 0x51);
  const sockets = await Promise.all(Array.from({ length: o.clients }, () => connect(o.front)));
  let counting = false;
  let roundTrips = 0;
  let stop = false;
  // At a fixed rate each client sends on its own schedule (a pgbench -R stand-in).
  const interval = o.rate > 0 ? (1000 * o.clients) / o.rate : 0;
  const loops = sockets.map(
    (socket, i) =>
      new Promise<void>((resolve) => {
        let got = 0;
        let due = performance.now() + (interval * i) / o.clients;
        const send = (): void => void socket.write(request);
        socket.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got < o.response) return;
          got -= o.response;
          if (counting) roundTrips++;
          if (stop) return resolve();
          if (interval === 0) return send();
          due += interval;
          setTimeout(send, Math.max(0, due - performance.now()));
        });
        setTimeout(send, Math.max(0, due - performance.now()));
      }),
  );
  await new Promise((resolve) => setTimeout(resolve, 500)); // warm-up
  counting = true;
  send({ op: 'measure' });
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, o.seconds * 1000));
  counting = false;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  send({ op: 'done', roundTrips, seconds });
  stop = true;
  await Promise.all(loops);
  await closeAll(sockets);
}

async function bulk(front: number, bytes: number): Promise<void> {
  mode = 'bulk';
  bulkReceived = 0;
  bulkWanted = bytes;
  const done = new Promise<void>((resolve) => (bulkDone = resolve));
  const socket = await connect(front);
  const chunk = Buffer.alloc(256 * 1024, 0x42);
  send({ op: 'measure' });
  const started = process.hrtime.bigint();
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  await done;
  send({ op: 'done', seconds: Number(process.hrtime.bigint() - started) / 1e9 });
  await closeAll([socket]);
}

/** Opens `pairs` pairs, 100 handshakes at a time, each proven to reach the backend by an echo. */
async function open(front: number, pairs: number, each: (batch: net.Socket[]) => Promise<void>): Promise<void> {
  mode = 'echo';
  for (let i = 0; i < pairs; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, pairs - i) }, async () => {
        const socket = await connect(front);
        socket.write('x');
        await once(socket, 'data');
        return socket;
      }),
    );
    await each(batch);
  }
}

process.on('message', (message: Op) => {
  const run = async (): Promise<void> => {
    switch (message.op) {
      case 'listen':
        backend.listen(0, '127.0.0.1');
        await once(backend, 'listening');
        return send({ op: 'listening', port: (backend.address() as net.AddressInfo).port });
      case 'pingpong':
        await pingpong(message as Required<Op>);
        return send({ op: 'closed' });
      case 'bulk':
        await bulk(message.front ?? 0, message.bytes ?? 0);
        return send({ op: 'closed' });
      case 'hold':
        await open(message.front ?? 0, message.pairs ?? 0, async (batch) => void held.push(...batch));
        return send({ op: 'held' });
      case 'churn':
        await open(message.front ?? 0, message.pairs ?? 0, closeAll);
        return send({ op: 'churned' });
      case 'release':
        await closeAll(held);
        held = [];
        return send({ op: 'closed' });
      case 'exit':
        backend.close();
        process.disconnect();
    }
  };
  run().catch((err: unknown) => {
    process.stderr.write(`relay-load: ${String(err)}\n`);
    process.exit(1);
  });
});
