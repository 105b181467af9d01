// A TCP gate in front of one Patroni REST API, so a test can stage a REST outage without
// touching Patroni. With the cluster's `restGate` option, Patroni advertises the gate's port as
// its restapi.connect_address (api_url in etcd), so everything that finds the API through etcd
// or the harness's HAProxy config (pgrouter's probes, HAProxy's checks, patronictl, the other
// members) goes through it, and all of them see the same outage.
//
// An outage closes the listening socket (new connections get ECONNREFUSED, as when Patroni's
// REST thread restarts) and drops the connections in flight (a keep-alive client would
// otherwise never notice), then listens again on the same port.
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { HarnessError } from './errors.js';

export class RestGate {
  private server: net.Server | undefined;
  private readonly open = new Set<net.Socket>();
  /** Called on every chunk a client sends (a request), for outages aimed at a probe. */
  private onRequest: (() => void) | undefined;

  constructor(
    readonly port: number,
    private readonly targetPort: number,
    private readonly host = '127.0.0.1',
  ) {}

  /** True while the gate refuses connections. */
  get closed(): boolean {
    return this.server === undefined;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => this.relay(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new HarnessError(`rest gate cannot listen on ${this.port}`, { cause: err })));
      server.listen({ host: this.host, port: this.port, exclusive: true }, resolve);
    });
    // A listening socket error after start (none expected on loopback) must not crash the runner.
    server.on('error', (err) => process.stderr.write(`[pgrouter harness] rest gate ${this.port}: ${err.message}\n`));
    this.server = server;
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect({ host: this.host, port: this.targetPort });
    this.open.add(client);
    this.open.add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      this.open.delete(client);
      this.open.delete(upstream);
    };
    // Either side failing ends the pair: the client then sees what a dead REST API looks like.
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.on('data', () => this.onRequest?.());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Refuses connections and drops the open ones for `ms`, then listens again. */
  async outage(ms: number): Promise<{ closedAt: number; reopenedAt: number }> {
    const closedAt = Date.now();
    await this.stopListening();
    await delay(Math.max(0, closedAt + ms - Date.now()));
    await this.start();
    return { closedAt, reopenedAt: Date.now() };
  }

  /**
   * The next outage starts when a client next sends a request through the gate (that request
   * fails), so a check that runs every few seconds is sure to meet it. Resolves with the
   * outage's times, or null when no request came within `waitMs`.
   */
  async outageOnNextRequest(ms: number, waitMs: number): Promise<{ closedAt: number; reopenedAt: number } | null> {
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs);
      this.onRequest = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    const hit = await arrived;
    this.onRequest = undefined;
    return hit ? this.outage(ms) : null;
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.open) socket.destroy();
    this.open.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stops for good (cluster teardown). */
  async stop(): Promise<void> {
    this.onRequest = undefined;
    await this.stopListening();
  }
}
