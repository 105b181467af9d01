/* global process, console */
// A stand-in for one Patroni member's REST API, for the image smoke test: it answers the
// checks pgrouter sends in static mode as a healthy primary would (GET /primary → 200,
// /replica → 503), so the router confirms a primary. Prints its port, runs until SIGTERM.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const primary = path !== '/replica' && path !== '/read-only' && path !== '/async';
  res.writeHead(primary ? 200 : 503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ state: 'running', role: primary ? 'primary' : 'replica' }));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
