// TypeBox schema of the raw YAML, before normalization. It checks shapes only: which keys exist
// (additionalProperties: false everywhere, so a typo is an error and not a silent default),
// their types, enums and integer ranges. Value syntaxes (durations, sizes, binds) and
// cross-field rules are checked in normalize.ts, which gives better messages than a regex would.
//
// Custom keywords read by validate.ts to word its messages:
//   x-expect  what a value should look like ("a duration such as ...")
//   x-enum    the allowed words of an enum (a union of literals)
//   x-hint    how to fix a pattern mismatch
//   x-secret  never echo the value in a message
import { Type, type Static, type TLiteral, type TProperties, type TUnion } from '@sinclair/typebox';

function Strict<T extends TProperties>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

function Enum<const T extends readonly [string, ...string[]]>(values: T) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { 'x-enum': values },
  ) as unknown as TUnion<TLiteral<T[number]>[]>;
}

const Opt = Type.Optional;

/** Strings are parsed by parseDuration; a bare number is milliseconds. */
const Duration = Type.Union([Type.String(), Type.Number()], { 'x-expect': 'a duration such as 250ms, 4s or 30m' });
const Bind = Type.String({ 'x-expect': 'an address such as 0.0.0.0:5432' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

const EnvRef = Strict({ env: Type.String({ minLength: 1 }) });
const FileRef = Strict({ file: Type.String({ minLength: 1 }) });

/** A secret value: literal string, or read from an environment variable or a file. */
const Secret = Type.Union([Type.String(), EnvRef, FileRef], {
  'x-expect': 'a quoted string, { env: VAR } or { file: PATH }',
  'x-secret': true,
});

/** PEM material: a plain string is a file path; { env } holds the PEM text itself. */
const Pem = Type.Union([Type.String({ minLength: 1 }), EnvRef, FileRef], {
  'x-expect': 'a file path, { env: VAR } or { file: PATH }',
});

/** CA and client certificate for a TLS client (etcd, Patroni REST). */
const TlsClient = { ca: Opt(Pem), cert: Opt(Pem), key: Opt(Pem) };

const Etcd = Strict({
  /** A list, or one comma-separated string as in Patroni's etcd3.hosts. */
  hosts: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String(), { minItems: 1 })], {
    'x-expect': 'a list of host:port such as [10.0.0.1:2379]',
  }),
  tls: Opt(Strict(TlsClient)),
  username: Opt(Type.String({ minLength: 1 })),
  password: Opt(Secret),
  dial_timeout: Opt(Duration),
  resync_interval: Opt(Duration),
});

const Member = Strict({
  name: Type.String({ minLength: 1 }),
  host: Type.String({ minLength: 1 }),
  port: Opt(Port),
  api: Opt(Type.String({ minLength: 1 })),
});

const Cluster = Strict({
  scope: Type.String({ minLength: 1 }),
  namespace: Opt(Type.String()),
  etcd: Opt(Etcd),
  members: Opt(Type.Array(Member, { minItems: 1 })),
  on_etcd_loss: Opt(Enum(['follow_probes', 'fail_closed'] as const)),
});

const Checks = Strict({
  interval: Opt(Duration),
  timeout: Opt(Duration),
  fall: Opt(Type.Integer({ minimum: 1 })),
  rise: Opt(Type.Integer({ minimum: 1 })),
  fast_interval: Opt(Duration),
  /** HAProxy's fastinter; default checks.interval. */
  fastinter: Opt(Duration),
  tls: Opt(Strict({ ...TlsClient, verify: Opt(Type.Boolean()) })),
});

/** sync and read_only map to Patroni's /sync and /read-only checks (issue 13). */
export const ROLES = ['primary', 'replica', 'sync', 'read_only'] as const;

// ---- TLS termination and TLS to PostgreSQL (issue 11) -------------------------------------
export const SSL_MODES = ['passthrough', 'disable', 'terminate'] as const;
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export const SERVER_TLS_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/** ssl: terminate — pgrouter is the TLS server for clients. */
const ListenerTls = Strict({
  cert: Pem,
  key: Pem,
  client_ca: Opt(Pem),
  require: Opt(Type.Boolean()),
  min_version: Opt(Enum(TLS_VERSIONS)),
});

/** TLS from pgrouter to PostgreSQL (ssl: terminate or disable), libpq's sslmode words. */
const ServerTls = Strict({ mode: Opt(Enum(SERVER_TLS_MODES)), ...TlsClient });

// ---- who may connect: PROXY protocol and allow-lists (normalize-access.ts checks the CIDRs) ----
const Cidrs = Type.Array(Type.String({ minLength: 1, 'x-expect': 'a CIDR such as 10.0.0.0/8 or 2001:db8::/32' }), { minItems: 1 });
const ProxyProtocol = Strict({
  accept: Opt(Enum(['v1', 'v2', 'any'] as const)),
  trusted: Cidrs,
});

const Listener = Strict({
  name: Type.String({
    pattern: '^[a-z0-9_-]+$',
    'x-hint': 'use lowercase letters, digits, "_" and "-"',
  }),
  bind: Bind,
  role: Enum(ROLES),
  /** Strings are parsed by parseSize; a bare number is bytes; null means no limit. */
  max_lag: Opt(Type.Union([Type.String(), Type.Number(), Type.Null()], { 'x-expect': 'a size such as 1MB, or null' })),
  balance: Opt(Enum(['roundrobin', 'leastconn', 'random'] as const)),
  fallback: Opt(Enum(['primary', 'none'] as const)),
  ssl: Opt(Enum(SSL_MODES)),
  tls: Opt(ListenerTls),
  server_tls: Opt(ServerTls),
  maxconn: Opt(Type.Integer({ minimum: 0 })),
  on_marked_down: Opt(Enum(['shutdown', 'keep'] as const)),
  on_lag: Opt(Enum(['shutdown', 'drain'] as const)),
  on_switchover: Opt(Enum(['hold', 'route'] as const)),
  proxy_protocol: Opt(ProxyProtocol),
  allow: Opt(Cidrs),
});

const Timeouts = Strict({
  connect: Opt(Duration),
  client: Opt(Duration),
  server: Opt(Duration),
  startup: Opt(Duration),
  connect_wait: Opt(Duration),
  queue: Opt(Duration),
  keepalive: Opt(Duration),
  shutdown_grace: Opt(Duration),
  /** Faults (issue 10): the backend's first answer; default timeouts.connect. */
  server_hello: Opt(Duration),
  /** Faults (issue 10): a reload's old workers, cluster mode. */
  reload_drain: Opt(Duration),
});

/** Faults (issue 10): caps on cancel fan-out, and cancel key rewriting. */
const Cancel = Strict({
  max_inflight: Opt(Type.Integer({ minimum: 1 })),
  max_inflight_per_client: Opt(Type.Integer({ minimum: 1 })),
  rewrite_keys: Opt(Type.Boolean()),
  instance_id: Opt(Type.Integer({ minimum: 0, maximum: 255 })),
  /** instance id → host:port of one of its listeners */
  peers: Opt(Type.Record(Type.String(), Type.String({ 'x-expect': 'an address such as 10.0.0.12:5432' }), { 'x-expect': 'a map of instance id to host:port' })),
});

export const RawConfigSchema = Strict({
  cluster: Cluster,
  checks: Opt(Checks),
  listeners: Opt(Type.Array(Listener, { minItems: 1 })),
  timeouts: Opt(Timeouts),
  http: Opt(
    Strict({
      bind: Opt(Bind),
      stats_refresh: Opt(Duration),
      ready: Opt(Enum(['primary', 'replica', 'any'] as const)),
    }),
  ),
  admin: Opt(Strict({ bind: Opt(Bind), token: Opt(Secret), quitquitquit: Opt(Type.Boolean()) })),
  cancel: Opt(Cancel),
  /** Data-path processes: 1 runs in-process, more run node:cluster workers; auto = one per CPU. */
  workers: Opt(
    Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], {
      'x-expect': 'a number of processes from 1 to 256, or auto',
    }),
  ),
  log: Opt(
    Strict({
      level: Opt(Enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const)),
      format: Opt(Enum(['json', 'pretty'] as const)),
    }),
  ),
  /** The byte relay after the startup phase (issue 12): auto = native when the addon loads, else js. */
  relay: Opt(Enum(['auto', 'native', 'js'] as const)),
});

export type RawConfig = Static<typeof RawConfigSchema>;
export type RawCluster = Static<typeof Cluster>;
export type RawEtcd = Static<typeof Etcd>;
export type RawChecks = Static<typeof Checks>;
export type RawMember = Static<typeof Member>;
export type RawListener = Static<typeof Listener>;
export type RawSecret = Static<typeof Secret>;
export type RawPem = Static<typeof Pem>;
export type RawListenerTls = Static<typeof ListenerTls>;
export type RawServerTls = Static<typeof ServerTls>;
export type RawProxyProtocol = Static<typeof ProxyProtocol>;
