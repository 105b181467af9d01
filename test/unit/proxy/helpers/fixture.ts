// A DataPath bound to port 0 in front of fake backends, with a hand-made view.
import pg from 'pg';
import type { Config } from '../../../../src/config/types.js';
import type { ClusterView, MemberView } from '../../../../src/view/cluster-view.js';
import { silentLogger, type Logger } from '../../../../src/log.js';
import { DataPath } from '../../../../src/proxy/data-path.js';
import type { RelayEngine } from '../../../../src/relay/relay.js';
import type { ListenerTraffic } from '../../../../src/sessions/types.js';
import { testConfig } from './config.js';
import { FakeBackend, type FakeBackendOptions } from './fake-backend.js';
import { member, view, type MemberSpec } from './view.js';

export class Fixture {
  private generation = 0;

  private constructor(
    readonly dp: DataPath,
    readonly backends: Record<string, FakeBackend>,
  ) {}

  static async start(opts: {
    backends: string[];
    primary: string | null;
    config?: Config;
    backend?: FakeBackendOptions;
    perBackend?: Record<string, FakeBackendOptions>;
    logger?: Logger;
    relay?: RelayEngine;
  }): Promise<Fixture> {
    const backends: Record<string, FakeBackend> = {};
    for (const name of opts.backends) backends[name] = await FakeBackend.start(name, opts.perBackend?.[name] ?? opts.backend);
    const dp = new DataPath({ config: opts.config ?? testConfig(), logger: opts.logger ?? silentLogger(), ...(opts.relay ? { relay: opts.relay } : {}) });
    await dp.start();
    const f = new Fixture(dp, backends);
    f.publish(opts.primary);
    return f;
  }

  /** A member pointing at the fake backend of that name. */
  member(name: string, spec: Omit<MemberSpec, 'name' | 'port'> = {}): MemberView {
    const b = this.backends[name];
    return member({ name, port: b ? b.port : 1, ...spec });
  }

  /** Publishes a new view with these members (default: every backend, all fit replicas but the primary). */
  publish(primary: string | null, members?: MemberView[]): ClusterView {
    const v = view(++this.generation, members ?? Object.keys(this.backends).map((n) => this.member(n)), primary);
    this.dp.updateView(v);
    return v;
  }

  /** Sessions with a backend on `listener`, by backend (the admin API's session list, counted). */
  sessionsOn(listener: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.dp.sessions()) if (s.listener === listener) out[s.backend] = (out[s.backend] ?? 0) + 1;
    return out;
  }

  /** CancelRequests by outcome, summed over the listeners (each counts its own in traffic()). */
  cancels(): Record<string, number> {
    return cancelsOf(this.dp);
  }

  port(listener: string): number {
    const a = this.dp.addresses()[listener];
    if (!a) throw new Error(`no listener ${listener}`);
    return a.port;
  }

  async pgClient(listener: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
    const c = new pg.Client({ host: '127.0.0.1', port: this.port(listener), user: 'app', database: 'db', ...extra });
    await c.connect();
    return c;
  }

  /** The backend name a new pg session on `listener` lands on. */
  async whereAmI(listener: string): Promise<string> {
    const c = await this.pgClient(listener);
    try {
      const r = await c.query<{ backend: string }>('select backend');
      return r.rows[0]?.backend ?? '?';
    } finally {
      await c.end();
    }
  }

  async close(): Promise<void> {
    await this.dp.close({ graceMs: 0 });
    await Promise.all(Object.values(this.backends).map((b) => b.close()));
  }
}

/** CancelRequests by outcome, summed over the listeners of a data path or a supervisor (the traffic production reads). */
export function cancelsOf(source: { traffic(): Record<string, ListenerTraffic> }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of Object.values(source.traffic())) for (const [k, n] of Object.entries(t.cancels ?? {})) out[k] = (out[k] ?? 0) + n;
  return out;
}
