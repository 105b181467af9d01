// A fake PostgreSQL primary for the memory bench, run as its own process:
//
//   node dist/bench/lib/fake-pg.js --pg-port P --api-port A
//
// The PostgreSQL port answers just enough of the protocol to hold a session: SSLRequest and
// GSSENCRequest get 'N'; a StartupMessage gets AuthenticationOk, BackendKeyData and
// ReadyForQuery (protocol 3.0, §55.2.1 "Start-up"); then the socket stays open, reading and
// ignoring whatever comes, until the client sends Terminate or closes. A real PostgreSQL would
// fork a backend per session; this keeps thousands of sessions cheap, so the only memory that
// grows with them is the proxy's (measured) and this process's (not measured).
//
// The API port stands in for Patroni's REST API: GET /primary (and /master, /leader, /health,
// /read-write) → 200 {"role":"master","state":"running"}; /replica → 503, as for a leader.
// Prints one line `{"ev":"ready",...}` on stdout once both ports listen.
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3_0 = 196608;

let nextPid = 10_000;
const counts = { sessions: 0, open: 0, rejected: 0 };

function message(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + payload.length, 1);
  return Buffer.concat([head, payload]);
}

function int32s(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeInt32BE(v, 4 * i));
  return b;
}

/** AuthenticationOk, BackendKeyData (pid, secret), ReadyForQuery (idle). */
function startupReply(pid: number): Buffer {
  return Buffer.concat([message('R', int32s(0)), message('K', int32s(pid, (pid * 2654435761) | 0)), message('Z', Buffer.from('I'))]);
}

function serve(socket: net.Socket): void {
  let buf = Buffer.alloc(0);
  let started = false;
  socket.setNoDelay(true);
  // A client that resets the connection is an ordinary end of a session here.
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    if (started) counts.open--;
  });
  socket.on('data', (chunk) => {
    if (started) {
      // Terminate ('X') ends the session; anything else is ignored: we answer no queries.
      if (chunk[0] === 0x58) socket.end();
      return;
    }
    buf = Buffer.concat([buf, chunk]);
    while (!started && buf.length >= 8) {
      const len = buf.readInt32BE(0);
      const code = buf.readInt32BE(4);
      if (len < 8 || len > 10_000) {
        counts.rejected++;
        socket.destroy();
        return;
      }
      if (buf.length < len) return;
      buf = buf.subarray(len);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        socket.write('N');
      } else if (code === PROTOCOL_3_0) {
        started = true;
        counts.sessions++;
        counts.open++;
        socket.write(startupReply(nextPid++));
      } else {
        // CancelRequest (nothing runs here to cancel) or an unknown code: close, like PostgreSQL.
        if (code !== CANCEL_REQUEST) counts.rejected++;
        socket.destroy();
        return;
      }
    }
  });
}

const PRIMARY_BODY = JSON.stringify({ role: 'master', state: 'running' });

function api(req: http.IncomingMessage, res: http.ServerResponse): void {
  const route = (req.url ?? '/').split('?')[0];
  if (route === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
    return;
  }
  const status = route === '/replica' || route === '/async' || route === '/sync' ? 503 : 200;
  res.writeHead(status, { 'content-type': 'application/json' }).end(PRIMARY_BODY);
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, backlog: 4096 }, resolve);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'pg-port': { type: 'string' }, 'api-port': { type: 'string' } } });
  const pgPort = Number(values['pg-port']);
  const apiPort = Number(values['api-port']);
  if (!Number.isInteger(pgPort) || !Number.isInteger(apiPort)) throw new Error('usage: fake-pg.js --pg-port P --api-port A');
  const pg = net.createServer(serve);
  const rest = http.createServer(api);
  await listen(pg, pgPort);
  await listen(rest, apiPort);
  process.stdout.write(`${JSON.stringify({ ev: 'ready', pid: process.pid, pg_port: pgPort, api_port: apiPort })}\n`);
  const stop = (): void => {
    pg.close();
    rest.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-pg: ${(err as Error).message}\n`);
  process.exit(1);
});
