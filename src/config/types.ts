// The validated, normalized, deep-frozen configuration.
//
// Keys keep the YAML spelling (snake_case) so that an operator reading an error, a log line or
// this file sees the same names as in pgrouter.yaml. Values are normalized:
//   - durations ("3s", "30m", "250ms") are numbers of milliseconds,
//   - sizes ("1MB", "512kB") are numbers of bytes,
//   - binds ("0.0.0.0:5432") are { host, port }.
// Every default lives in src/config/defaults.ts and is documented in docs/configuration.md.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface TlsFiles {
  /** PEM contents (already read from file / env), not paths. */
  readonly ca: string | null;
  readonly cert: string | null;
  readonly key: string | null;
}

export interface EtcdConfig {
  /** One or more etcd client endpoints, e.g. [{host:'10.0.0.1', port:2379}]. */
  readonly hosts: readonly HostPort[];
  /** http or https; https when `tls` is set. */
  readonly protocol: 'http' | 'https';
  readonly tls: TlsFiles | null;
  readonly username: string | null;
  /** Resolved secret (from YAML, env var or file). Never logged. */
  readonly password: string | null;
  /** Timeout of one etcd request (range read, watch create). */
  readonly dial_timeout: number;
  /** Watchdog: re-read the whole prefix this often even if the watch looks healthy. */
  readonly resync_interval: number;
}

export interface StaticMember {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Patroni REST base URL, e.g. http://10.0.0.1:8008 */
  readonly api: string;
}

export interface ClusterConfig {
  readonly scope: string;
  /** Always starts and ends with "/" after normalization. */
  readonly namespace: string;
  /** etcd mode when set; static mode when `members` is set instead. Exactly one is set. */
  readonly etcd: EtcdConfig | null;
  readonly members: readonly StaticMember[] | null;
  /**
   * What to do while etcd is unreachable:
   *  - follow_probes (default): keep routing on Patroni REST probes alone,
   *  - fail_closed: no confirmed primary until etcd is back.
   */
  readonly on_etcd_loss: 'follow_probes' | 'fail_closed';
}

export interface ChecksConfig {
  /** Probe interval (HAProxy `inter`). */
  readonly interval: number;
  /** Probe timeout (HAProxy `timeout check`). */
  readonly timeout: number;
  /** Consecutive failures before a check is marked down. */
  readonly fall: number;
  /** Consecutive successes before a check is marked up. */
  readonly rise: number;
  /** Faster re-probe interval (/primary only) while a new leader-key holder is not yet confirmed. */
  readonly fast_interval: number;
  /**
   * HAProxy `fastinter`: the probe interval while a check is in transition, counting the rest of
   * its rise or fall (default: interval). A short REST outage then costs fall × fastinter before
   * a healthy primary is unconfirmed, not fall × fast_interval (issue 10).
   */
  readonly fastinter: number;
  /** TLS for Patroni REST APIs on https:// (a private CA, client certificates); null = Node's defaults. */
  readonly tls: ProbeTlsConfig | null;
}

export interface ProbeTlsConfig extends TlsFiles {
  /** Verify the REST API's certificate (chain and name); false only for a lab. */
  readonly verify: boolean;
}

/**
 * primary: the confirmed leader. replica: healthy replicas (`/replica`). sync: synchronous
 * standbys (`/sync` and the `sync` key in etcd). read_only: every member that serves reads, the
 * leader included (`/read-only`).
 */
export type ListenerRole = 'primary' | 'replica' | 'sync' | 'read_only';
export type Balance = 'roundrobin' | 'leastconn' | 'random';

export interface ListenerConfig {
  readonly name: string;
  readonly bind: HostPort;
  readonly role: ListenerRole;
  /** Replica, sync and read_only listeners: max replication lag in bytes for `?lag=`; null = no limit. */
  readonly max_lag: number | null;
  readonly balance: Balance;
  /** Replica and sync listeners: route to the primary when no replica (sync standby) is fit. */
  readonly fallback: 'primary' | 'none';
  /**
   * passthrough: relay SSLRequest to the backend (TLS end to end); disable: answer 'N';
   * terminate: pgrouter is the client's TLS server (`tls`).
   */
  readonly ssl: SslMode;
  /** ssl: terminate only (null otherwise): the certificate pgrouter presents, and the client rules. */
  readonly tls: ListenerTlsConfig | null;
  /** TLS from pgrouter to PostgreSQL; mode disable with ssl: passthrough (the client's TLS is end to end). */
  readonly server_tls: ServerTlsConfig;
  /** Max concurrent sessions on this listener; further clients queue. 0 = unlimited. */
  readonly maxconn: number;
  /** What happens to sessions whose backend is marked down (HAProxy on-marked-down). */
  readonly on_marked_down: 'shutdown' | 'keep';
  /** Replica (or sync standby) that is up but over max_lag: shut its sessions down, or only drain (no new ones). */
  readonly on_lag: 'shutdown' | 'drain';
  /**
   * Primary listeners: while Patroni's announced switchover moves the leadership away, hold new
   * sessions until the new leader is confirmed (hold: no client error, a write waits Patroni's
   * demotion out), or keep routing to the outgoing leader until its role changes (route: the
   * shortest wait, but a session opened just before the demotion is cut).
   */
  readonly on_switchover: 'hold' | 'route';
  // ---- who may connect (PROXY protocol, allow-list) ----
  /** A PROXY protocol header is required from `trusted` sources (others are closed); null = off. */
  readonly proxy_protocol: ProxyProtocolConfig | null;
  /** Client addresses (after PROXY) that may connect; null = everyone. */
  readonly allow: readonly Cidr[] | null;
}

// ---- who may connect: PROXY protocol and allow-lists (src/config/cidr.ts) ----

/** A CIDR range, checked and normalized: host bits zero, IPv4-mapped IPv6 ranges made IPv4. */
export interface Cidr {
  /** Canonical text, e.g. "10.0.0.0/8", "2001:db8::/32": what logs and errors show. */
  readonly text: string;
  readonly family: 4 | 6;
  /** The network: 4 or 16 bytes, host bits zero. */
  readonly bytes: readonly number[];
  readonly prefix: number;
}

/** Which PROXY protocol versions a listener reads (HAProxy `accept-proxy` reads both). */
export type ProxyAccept = 'v1' | 'v2' | 'any';

export interface ProxyProtocolConfig {
  readonly accept: ProxyAccept;
  /** Sources allowed to send the header: the load balancer or proxy tier, never clients. */
  readonly trusted: readonly Cidr[];
}

// ---- TLS termination and TLS to PostgreSQL (issue 11) -------------------------------------

export type SslMode = 'passthrough' | 'disable' | 'terminate';

/**
 * PEM material and where it came from. A file can be watched and re-read when it changes
 * (Kubernetes swaps a symlink); PEM from an environment variable only changes with a reload.
 */
export interface PemSource {
  readonly pem: string;
  /** Absolute path of the file it was read from; null when it came from `{ env }`. */
  readonly path: string | null;
}

export interface ListenerTlsConfig {
  /** The certificate chain pgrouter presents (leaf first). */
  readonly cert: PemSource;
  readonly key: PemSource;
  /** When set, clients must present a certificate signed by one of these CAs. */
  readonly client_ca: PemSource | null;
  /** Refuse plaintext StartupMessages with SQLSTATE 28000 (pgbouncer's client_tls_sslmode=require). */
  readonly require: boolean;
  readonly min_version: 'TLSv1.2' | 'TLSv1.3';
}

/** libpq's sslmode words, for pgrouter as PostgreSQL's client. */
export type ServerTlsMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface ServerTlsConfig extends TlsFiles {
  readonly mode: ServerTlsMode;
}

export interface TimeoutsConfig {
  readonly connect: number;
  /** Client side idle timeout; 0 = none. */
  readonly client: number;
  /** Server side idle timeout; 0 = none. */
  readonly server: number;
  /** Time a new client has to send its first (startup) packet. */
  readonly startup: number;
  /** How long a new client is held while the listener has no backend. 0 = refuse at once. */
  readonly connect_wait: number;
  /** How long a client may wait in the maxconn queue. */
  readonly queue: number;
  /** TCP keepalive initial delay on both sides (below Azure LB's 4 min idle cut). */
  readonly keepalive: number;
  /** SIGTERM: how long established sessions may drain before they are closed. */
  readonly shutdown_grace: number;
  /**
   * From sending the StartupMessage (or our SSLRequest) to a backend until its first answer
   * (default: connect). A backend that accepts and never answers (a frozen postmaster, a VM
   * pause) is then replaced like one answering 57P03: the client has seen no byte (issue 10).
   */
  readonly server_hello: number;
  /**
   * Cluster mode: how long a reload's old workers keep their sessions before they are closed.
   * Old workers must not live as long as the longest pooled session (issue 10).
   */
  readonly reload_drain: number;
}

/**
 * What GET /ready requires:
 *  - primary: a confirmed primary (the default; a router in front of writers),
 *  - replica: at least one fit replica on some replica listener (an RO-only sidecar),
 *  - any: any listener that can route a new session.
 */
export type ReadyPolicy = 'primary' | 'replica' | 'any';

export interface HttpConfig {
  readonly bind: HostPort;
  /** Auto-refresh period of the /stats page; 0 = no auto-refresh. */
  readonly stats_refresh: number;
  readonly ready: ReadyPolicy;
}

export interface AdminConfig {
  /** Listen address of the admin API (its own socket, loopback by default). */
  readonly bind: HostPort;
  /**
   * POST /quitquitquit on admin.bind, from loopback peers only and without a token: a Job's
   * last step stops its sidecar (clusters before Kubernetes 1.29 native sidecars). Default false.
   */
  readonly quitquitquit: boolean;
  /** Resolved bearer token (YAML, env var or file). null = the admin API is off. Never logged. */
  readonly token: string | null;
}

export interface LogConfig {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly format: 'json' | 'pretty';
}

/** A peer router instance, for cancel keys that name it (cancel.peers). */
export interface CancelPeer {
  readonly id: number;
  readonly host: string;
  readonly port: number;
}

/**
 * CancelRequests (issue 10). Outgoing cancel connections are capped, per process and per
 * client address; over a cap a cancel is dropped and counted. With rewrite_keys, the client gets
 * a BackendKeyData that pgrouter made (pid naming this instance, random key of the server's
 * length); a cancel then goes to its one owner, to the peer whose instance its pid names, or
 * nowhere. Sessions whose key pgrouter never sees (TLS pass-through) keep the broadcast.
 */
export interface CancelConfig {
  /** Outgoing cancel connections at once, per data-path process. */
  readonly max_inflight: number;
  /** Outgoing cancel connections at once for the cancels of one client IP address. */
  readonly max_inflight_per_client: number;
  readonly rewrite_keys: boolean;
  /** 0..255, distinct for every router instance behind one load balancer. */
  readonly instance_id: number;
  /** Other instances: a cancel whose key names one of them is forwarded to it unchanged. */
  readonly peers: readonly CancelPeer[];
}

export interface Config {
  readonly cluster: ClusterConfig;
  readonly checks: ChecksConfig;
  readonly listeners: readonly ListenerConfig[];
  readonly timeouts: TimeoutsConfig;
  readonly http: HttpConfig;
  readonly admin: AdminConfig;
  readonly log: LogConfig;
  readonly cancel: CancelConfig;
  /**
   * Data-path processes. 1 (the default) runs the data path in the router process; more run
   * node:cluster workers behind one primary (discovery, HTTP); 'auto' = os.availableParallelism().
   */
  readonly workers: number | 'auto';
  /**
   * What moves a session's bytes once its startup phase is over (issue 12), fixed per process:
   *  - auto (default): the native relay thread when the addon loads here, else the JS relay;
   *  - native: the native relay, and the start fails without it;
   *  - js: the JS relay (Node streams) for every session.
   * Sessions whose TLS pgrouter terminates or originates (ssl: terminate, server_tls) always
   * stay in the JS relay.
   */
  readonly relay: 'auto' | 'native' | 'js';
}

/** One problem found in a config file, reported like `haproxy -c`. */
export interface ConfigIssue {
  /** Key path, e.g. "listeners[1].bind" or "timeouts.connect". */
  readonly path: string;
  /** 1-based line in the file, when known. */
  readonly line: number | null;
  readonly message: string;
}
