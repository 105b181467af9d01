// The Patroni 3.0.2 configuration for one local node. Loopback only, trust auth, small
// memory, and DCS timings short enough that failover tests finish quickly.
import { stringify } from 'yaml';
import { PG_BIN_DIR } from './process.js';

export interface DcsTimings {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

export interface PatroniNodeConfigInput {
  scope: string;
  namespace: string;
  name: string;
  pgPort: number;
  apiPort: number;
  etcdHost: string;
  etcdPort: number;
  nodeDir: string;
  dataDir: string;
  timings: DcsTimings;
  maxConnections: number;
  /** PostgreSQL ssl=on and the REST API on HTTPS (client certificates required), or null. */
  tls: NodeTls | null;
  /** The REST port Patroni advertises (restapi.connect_address), when a gate sits in front of apiPort. */
  restConnectPort?: number;
  /** bootstrap.dcs synchronous_mode. */
  synchronousMode?: boolean;
  /** With `tls`: the REST API on HTTPS too (default true). */
  restTls?: boolean;
  /** A role that logs in with scram-sha-256 (its pg_hba lines come before the trust lines), or null. */
  scramUser?: string | null;
}

export interface NodeTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Builds the YAML text of a node's patroni.yml. */
export function patroniConfigYaml(c: PatroniNodeConfigInput): string {
  // Trust on loopback keeps tests free of passwords; nothing here listens on another interface.
  const hba = [
    // First match wins: this one role must prove its password (SCRAM), over TLS or not.
    ...(c.scramUser ? [`host all ${c.scramUser} 127.0.0.1/32 scram-sha-256`] : []),
    'local all all trust',
    'local replication all trust',
    'host all all 127.0.0.1/32 trust',
    'host replication all 127.0.0.1/32 trust',
  ];
  const config = {
    scope: c.scope,
    namespace: c.namespace,
    name: c.name,
    log: { level: 'INFO' },
    restapi: {
      listen: `127.0.0.1:${c.apiPort}`,
      connect_address: `127.0.0.1:${c.restConnectPort ?? c.apiPort}`,
      // Patroni's own calls to other members (and patronictl) present restapi.certfile as their
      // client certificate and trust restapi.cafile (patroni/request.py), so one cert suffices.
      ...(c.tls && c.restTls !== false ? { certfile: c.tls.cert, keyfile: c.tls.key, cafile: c.tls.ca, verify_client: 'required' } : {}),
    },
    // The `etcd3` section (not `etcd`) makes Patroni use the v3 gRPC-gateway API, so its keys
    // live in the v3 keyspace that pgrouter watches.
    etcd3: { hosts: `${c.etcdHost}:${c.etcdPort}` },
    bootstrap: {
      dcs: {
        ttl: c.timings.ttl,
        loop_wait: c.timings.loopWait,
        retry_timeout: c.timings.retryTimeout,
        maximum_lag_on_failover: 16 * 1024 * 1024,
        ...(c.synchronousMode ? { synchronous_mode: true } : {}),
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          // DCS-level parameters must match on all members (max_connections in particular:
          // a replica refuses to start with fewer than its primary).
          parameters: {
            max_connections: c.maxConnections,
            shared_buffers: '32MB',
            wal_level: 'replica',
            hot_standby: 'on',
            wal_log_hints: 'on',
            wal_keep_size: '128MB',
            max_wal_senders: 10,
            max_replication_slots: 10,
            max_wal_size: '256MB',
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }],
    },
    postgresql: {
      listen: `127.0.0.1:${c.pgPort}`,
      connect_address: `127.0.0.1:${c.pgPort}`,
      data_dir: c.dataDir,
      bin_dir: PG_BIN_DIR,
      pgpass: `${c.nodeDir}/pgpass`,
      authentication: {
        superuser: { username: 'postgres', password: 'postgres' },
        replication: { username: 'replicator', password: 'replicator' },
        rewind: { username: 'postgres', password: 'postgres' },
      },
      // Debian's compiled-in socket dir (/var/run/postgresql) may not exist; keep sockets private.
      parameters: {
        unix_socket_directories: c.nodeDir,
        ...(c.tls ? { ssl: 'on', ssl_cert_file: c.tls.cert, ssl_key_file: c.tls.key, ssl_ca_file: c.tls.ca } : {}),
      },
      pg_hba: hba,
      basebackup: [{ checkpoint: 'fast' }],
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  return stringify(config);
}
