// Every default of pgrouter.yaml, in one place, already normalized (ms, bytes, {host, port}).
// docs/configuration.md documents each of them; test/unit/config/load.test.ts pins them.
// The HAProxy column is what the seed deployments configure, so a migration keeps its timings.

export const DEFAULTS = {
  cluster: {
    /** Patroni's default `namespace`. */
    namespace: '/service/',
    on_etcd_loss: 'follow_probes',
  },
  etcd: {
    dial_timeout: 2_000,
    resync_interval: 30_000,
  },
  member: {
    /** PostgreSQL's default port. */
    port: 5432,
    /** Patroni's default REST port; api defaults to http://<host>:8008. */
    api_port: 8008,
  },
  checks: {
    /** HAProxy `inter 3s`. */
    interval: 3_000,
    /** HAProxy `timeout check 5s`. */
    timeout: 5_000,
    /** HAProxy `fall 3`. */
    fall: 3,
    /** HAProxy `rise 2`. */
    rise: 2,
    fast_interval: 100,
    /** checks.tls.verify: a REST API's certificate is checked unless the operator says otherwise. */
    tls_verify: true,
  },
  listener: {
    max_lag: null,
    balance: 'roundrobin',
    /** A replica listener with no fit replica sends reads to the primary; a primary one cannot. */
    fallback: { primary: 'none', replica: 'primary', sync: 'primary', read_only: 'none' },
    ssl: 'passthrough',
    /** Ten times the seeds' per-server `maxconn 100`, and still a bound: 0 means unlimited. */
    maxconn: 1000,
    /** HAProxy `on-marked-down shutdown-sessions`. */
    on_marked_down: 'shutdown',
    on_lag: 'drain',
    on_switchover: 'hold',
    /** ssl: terminate (issue 11): plaintext clients are still served unless tls.require is set. */
    tls_require: false,
    /** TLS 1.2 is what PostgreSQL's ssl_min_protocol_version defaults to. */
    tls_min_version: 'TLSv1.2',
    /** No TLS to PostgreSQL unless asked for: pass-through or a trusted network is the default. */
    server_tls_mode: 'disable',
    /** No PROXY header is read unless configured: a header from anyone would let them pick their address. */
    proxy_protocol: null,
    /** proxy_protocol.accept: both versions (the trusted ranges are the guard, not the version). */
    proxy_accept: 'any',
    /** Everyone may connect (pg_hba.conf still decides). */
    allow: null,
  },
  /** Used when `listeners` is omitted: the RW/RO pair of the seeds. */
  listeners: [
    { name: 'rw', bind: '0.0.0.0:5432', role: 'primary' },
    { name: 'ro', bind: '0.0.0.0:5433', role: 'replica' },
  ],
  timeouts: {
    /** HAProxy `timeout connect 4s`. */
    connect: 4_000,
    /** HAProxy `timeout client 30m`. */
    client: 1_800_000,
    /** HAProxy `timeout server 30m`. */
    server: 1_800_000,
    startup: 10_000,
    connect_wait: 15_000,
    queue: 30_000,
    /** Below Azure Load Balancer's 4-minute idle cut. */
    keepalive: 60_000,
    shutdown_grace: 30_000,
    /** timeouts.server_hello defaults to timeouts.connect (normalize.ts). */
    /** A reload's old workers close what they still relay after this (cluster mode). */
    reload_drain: 300_000,
  },
  http: {
    /** The seeds' stats frontend `bind *:8404`. */
    bind: { host: '0.0.0.0', port: 8404 },
    /** HAProxy `stats refresh 10s`. */
    stats_refresh: 10_000,
    ready: 'primary',
  },
  admin: {
    /** Loopback only: the admin API changes routing, so it is not exposed unless asked for. */
    bind: { host: '127.0.0.1', port: 8405 },
    /** Shorter tokens are rejected: the token is the only thing guarding the admin API. */
    token_min_length: 16,
    quitquitquit: false,
  },
  log: {
    level: 'info',
    format: 'json',
  },
  /** One process: cluster mode is opted into (src/cluster). */
  workers: 1,
  /** Faults (issue 10). */
  cancel: {
    /** A burst of unknown cancels costs at most this many postmaster forks at once. */
    max_inflight: 64,
    max_inflight_per_client: 8,
    /** Off: a cancel for another router instance would be lost unless its peers are listed. */
    rewrite_keys: false,
    instance_id: 0,
  },
  /** The native relay where it loads, the JS relay elsewhere (issue 12). */
  relay: 'auto',
} as const;

/** Overrides cluster.etcd.password when set and not empty (containers, systemd credentials). */
export const ETCD_PASSWORD_ENV = 'PGROUTER_ETCD_PASSWORD';

/** Overrides admin.token when set and not empty; enables the admin API on its own. */
export const ADMIN_TOKEN_ENV = 'PGROUTER_ADMIN_TOKEN';

/** Host of ":5432" and "*:5432" binds. */
export const WILDCARD_HOST = '0.0.0.0';
