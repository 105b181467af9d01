// A fresh relay process for the idle-pair figure of bench/relay-micro.ts: RSS and fds of a
// process that only relays, before and after the load opens N idle pairs through it (the same
// method as bench/memory.ts: (held − idle) / N, each engine in its own process).
//   node relay-idle.js <engine> <backendPort>; IPC: 'ready' {port}, base → based, measure → measured {rss, fds}
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import type net from 'node:net';
import { createEngine, listenFront, type EngineName } from './relay-engines.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function sample(): Record<string, number> {
  gc();
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
  const m = process.memoryUsage();
  return { rss, fds: fs.readdirSync('/proc/self/fd').length, heapTotal: m.heapTotal >> 10, heapUsed: m.heapUsed >> 10, external: m.external >> 10 };
}

const engine = createEngine(process.argv[2] as EngineName);
const server = await listenFront(engine, Number(process.argv[3]));
process.on('message', (m: { op: string }) => {
  if (m.op === 'base') {
    // The churned pairs close here after they closed at the load: sample once they are gone.
    const settled = (): void => {
      if (engine.live() > 0) return void setTimeout(settled, 20);
      process.send?.({ op: 'based', ...sample() });
    };
    settled();
  }
  if (m.op === 'measure') process.send?.({ op: 'measured', ...sample() });
  if (m.op === 'exit') {
    server.close();
    engine.close();
    process.disconnect();
  }
});
process.send?.({ op: 'ready', port: (server.address() as net.AddressInfo).port });
