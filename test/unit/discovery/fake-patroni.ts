// A stand-in for one Patroni REST API on an ephemeral loopback port: answers /primary and
// /replica from a mutable role, and records every request path.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * `unleased`: a running primary whose Patroni lost the leader lock (it could not renew the key):
 * /primary answers 503 with a body that still says master. `garbage`: a 502 page from a proxy.
 */
export type FakeRole = 'master' | 'replica' | 'promoting' | 'lagging' | 'unleased' | 'hang' | 'garbage';

export class FakePatroni {
  role: FakeRole;
  readonly paths: string[] = [];
  private readonly server: http.Server;
  private pausedPort: number | null = null;

  private constructor(role: FakeRole) {
    this.role = role;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(role: FakeRole): Promise<FakePatroni> {
    const f = new FakePatroni(role);
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    return f;
  }

  get url(): string {
    return `http://127.0.0.1:${this.pausedPort ?? (this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A REST outage: the port refuses connections (ECONNREFUSED) until resume(). */
  async pause(): Promise<void> {
    this.pausedPort = (this.server.address() as AddressInfo).port;
    await this.close();
  }

  /** The REST API is back, on the same port. */
  async resume(): Promise<void> {
    const port = this.pausedPort;
    if (port === null) return;
    this.pausedPort = null;
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    this.paths.push(path);
    if (this.role === 'hang') return; // never answers: the prober's timeout must fire
    if (this.role === 'garbage') {
      res.writeHead(502).end('<html>bad gateway</html>');
      return;
    }
    const inRecovery = this.role !== 'master' && this.role !== 'unleased';
    const body = JSON.stringify({
      state: 'running',
      role: inRecovery ? 'replica' : 'master',
      xlog: inRecovery ? { received_location: 1, replayed_location: 1 } : { location: 1 },
    });
    let status = 503;
    if (path.startsWith('/primary')) status = this.role === 'master' || this.role === 'promoting' ? 200 : 503;
    else if (path.startsWith('/replica')) status = this.role === 'replica' || (this.role === 'lagging' && !path.includes('lag=')) ? 200 : 503;
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  }
}
