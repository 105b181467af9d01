// The naive Node proxy the throughput bench puts next to pgrouter: a TCP listener that connects
// each client to one fixed PostgreSQL port and joins the two sockets with stream.pipe(). No
// startup parsing, no routing, no timeouts: the cheapest byte relay Node's stream layer allows,
// so the gap to it shows what pgrouter's own work costs, and the gap from it to HAProxy what
// Node's streams cost (issue 12).
//
//   node dist/bench/lib/pipe-proxy.js --port P --target HOST:PORT
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, target: { type: 'string' } } });
const port = Number(values.port);
const [host, targetPort] = (values.target ?? '').split(':');
if (!Number.isInteger(port) || !host || !Number.isInteger(Number(targetPort))) throw new Error('usage: pipe-proxy.js --port P --target HOST:PORT');

const server = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = net.connect({ host, port: Number(targetPort), noDelay: true });
  // Either side failing or closing ends both: the bench only opens sessions that work.
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen({ host: '127.0.0.1', port }, () => process.stdout.write(`${JSON.stringify({ ev: 'ready', port })}\n`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
