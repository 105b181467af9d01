// LocalCluster options: defaults and the checks Patroni itself would only fail on at runtime.
import crypto from 'node:crypto';
import { HarnessError } from './errors.js';

export interface LocalClusterOptions {
  /** Number of Patroni nodes, named node1..nodeN. Default 3. */
  nodes?: number;
  /** Patroni scope; default `pgr-<random>` so runs never share etcd keys. */
  scope?: string;
  /** Patroni namespace; default '/service/'. */
  namespace?: string;
  /** Leader lease in seconds. Default 10; must be >= loopWait + 2 * retryTimeout. */
  ttl?: number;
  /** Seconds between HA cycles. Default 1. */
  loopWait?: number;
  /** Seconds Patroni retries DCS/PostgreSQL operations before giving up. Default 4. */
  retryTimeout?: number;
  /** Parent of the cluster's fresh temp dir (default os.tmpdir()); postgres must be able to traverse it. */
  baseDir?: string;
  log?: (line: string) => void;
  /** PostgreSQL max_connections. Default 200 (benchmarks open many). */
  maxConnections?: number;
  /** How long start() waits for a healthy cluster. Default 90 s. */
  startTimeoutMs?: number;
  /**
   * TLS everywhere a client meets the cluster: PostgreSQL `ssl=on` and Patroni's REST API on
   * HTTPS with `verify_client: required`, all signed by a CA of the cluster's own (`pki`).
   * 'postgresql': PostgreSQL's ssl=on only, the REST API stays on HTTP (the throughput bench's
   * TLS row, whose HAProxy checks Patroni over plain HTTP). Default false.
   */
  tls?: boolean | 'postgresql';
  /** Patroni `synchronous_mode: true` from bootstrap (one synchronous standby). Default false. */
  synchronousMode?: boolean;
  /**
   * Put a TCP gate (rest-gate.ts) in front of every node's REST API and make Patroni advertise
   * it, so a test can stage REST outages (`LocalCluster.restGate(name)`). Default false.
   */
  restGate?: boolean;
  /**
   * A role that must log in with SCRAM (scram-sha-256 in pg_hba.conf, over TLS and plaintext,
   * ahead of the trust lines), created once the cluster is healthy. For SCRAM channel binding
   * tests; everyone else keeps trust. Default none.
   */
  scram?: ScramRole | null;
}

export interface ScramRole {
  readonly user: string;
  readonly password: string;
}

export type ResolvedOptions = Required<Omit<LocalClusterOptions, 'baseDir'>> & { baseDir: string | undefined };

export function resolveOptions(options: LocalClusterOptions): ResolvedOptions {
  const opts: ResolvedOptions = {
    nodes: options.nodes ?? 3,
    scope: options.scope ?? `pgr-${crypto.randomBytes(4).toString('hex')}`,
    namespace: options.namespace ?? '/service/',
    // ttl 10 / loop_wait 1 / retry_timeout 4: a crashed leader is replaced in about ttl seconds,
    // and a leader survives one DCS hiccup of up to retry_timeout without losing its lock.
    ttl: options.ttl ?? 10,
    loopWait: options.loopWait ?? 1,
    retryTimeout: options.retryTimeout ?? 4,
    baseDir: options.baseDir,
    log: options.log ?? (() => undefined),
    maxConnections: options.maxConnections ?? 200,
    startTimeoutMs: options.startTimeoutMs ?? 90_000,
    tls: options.tls ?? false,
    synchronousMode: options.synchronousMode ?? false,
    restGate: options.restGate ?? false,
    scram: options.scram ?? null,
  };
  // Patroni's documented rule: the leader must be able to retry DCS for retry_timeout twice
  // within one ttl, or it loses the lock during a single slow cycle.
  if (opts.ttl < opts.loopWait + 2 * opts.retryTimeout) {
    throw new HarnessError(`ttl ${opts.ttl} must be >= loopWait + 2 * retryTimeout`);
  }
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1) {
    throw new HarnessError(`nodes must be a positive integer, got ${opts.nodes}`);
  }
  // The scope becomes a directory name, an etcd key segment and PostgreSQL's cluster_name.
  if (!/^[A-Za-z0-9_-]+$/.test(opts.scope)) {
    throw new HarnessError(`scope must match [A-Za-z0-9_-]+, got ${opts.scope}`);
  }
  // The user name goes into pg_hba.conf and a CREATE ROLE: keep it a plain identifier.
  if (opts.scram && !/^[a-z_][a-z0-9_]*$/.test(opts.scram.user)) {
    throw new HarnessError(`scram.user must be a plain lowercase identifier, got ${opts.scram.user}`);
  }
  if (!opts.namespace.startsWith('/') || !opts.namespace.endsWith('/')) {
    throw new HarnessError(`namespace must start and end with '/', got ${opts.namespace}`);
  }
  return opts;
}
