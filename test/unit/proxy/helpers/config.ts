// A hand-made, frozen Config for data-path tests (the real loader lives in src/config and is
// not a dependency of these tests). Every listener binds 127.0.0.1:0.
import type { CancelConfig, Config, ListenerConfig, TimeoutsConfig } from '../../../../src/config/types.js';

const TIMEOUTS: TimeoutsConfig = {
  connect: 1_000,
  client: 0,
  server: 0,
  startup: 2_000,
  connect_wait: 2_000,
  queue: 2_000,
  keepalive: 60_000,
  shutdown_grace: 1_000,
  server_hello: 1_000,
  reload_drain: 300_000,
};

export function listenerConfig(over: Partial<ListenerConfig> & { name: string }): ListenerConfig {
  return {
    bind: { host: '127.0.0.1', port: 0 },
    role: 'primary',
    max_lag: null,
    balance: 'roundrobin',
    fallback: 'none',
    ssl: 'passthrough',
    tls: null,
    server_tls: { mode: 'disable', ca: null, cert: null, key: null },
    maxconn: 0,
    on_marked_down: 'shutdown',
    on_lag: 'shutdown',
    on_switchover: 'hold',
    proxy_protocol: null,
    allow: null,
    ...over,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const CANCEL: CancelConfig = { max_inflight: 64, max_inflight_per_client: 8, rewrite_keys: false, instance_id: 0, peers: [] };

/** `relay`: default auto (the native relay where the addon is built, as `npm ci` does). */
export function testConfig(opts: { listeners?: ListenerConfig[]; timeouts?: Partial<TimeoutsConfig>; cancel?: Partial<CancelConfig>; relay?: Config['relay'] } = {}): Config {
  return deepFreeze({
    cluster: { scope: 'test', namespace: '/service/', etcd: null, members: [], on_etcd_loss: 'follow_probes' },
    checks: { interval: 1_000, timeout: 1_000, fall: 1, rise: 1, fast_interval: 100, fastinter: 1_000, tls: null },
    listeners: opts.listeners ?? [listenerConfig({ name: 'rw', role: 'primary' }), listenerConfig({ name: 'ro', role: 'replica' })],
    timeouts: { ...TIMEOUTS, ...opts.timeouts },
    http: { bind: { host: '127.0.0.1', port: 0 }, stats_refresh: 10_000, ready: 'primary' },
    admin: { bind: { host: '127.0.0.1', port: 0 }, token: null, quitquitquit: false },
    log: { level: 'info', format: 'json' },
    workers: 1,
    cancel: { ...CANCEL, ...opts.cancel },
    relay: opts.relay ?? 'auto',
  });
}
