// The etcd3 client's options for EtcdSource: endpoints, TLS, auth, per-call deadlines, the fault
// policies of etcd-policy.ts, and the require-leader metadata on the watch stream.
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import type { IOptions } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { hostPort } from '../config/units.js';
import { acrossHosts, passThroughPolicy } from './etcd-policy.js';

/**
 * etcd's clientv3.WithRequireLeader: the metadata `hasleader: true` makes a member without a raft
 * leader refuse the call, and cancel a watch stream once it loses its leader, with "etcdserver:
 * no leader" (etcd api/v3rpc/rpctypes: MetadataRequireLeaderKey). etcd3 npm has no option for
 * it; a grpc-js call interceptor adds it to the streams only (the watch).
 */
export const requireLeader: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });

export function etcdClientOptions(etcd: EtcdConfig): IOptions {
  const hosts = etcd.hosts.map((h) => `${etcd.protocol}://${hostPort(h.host, h.port)}`);
  // etcd3 1.1.2 ignores `dialTimeout`; a per-call deadline bounds unary calls instead. Streams
  // (the watch) must not get one or they would be cut after dial_timeout; they require a leader.
  const callOptions = (ctx: { isStream: boolean }) => (ctx.isStream ? { interceptors: [requireLeader] } : { deadline: Date.now() + etcd.dial_timeout });
  const opts: IOptions = {
    hosts,
    dialTimeout: etcd.dial_timeout,
    defaultCallOptions: callOptions,
    // See etcd-policy.ts: no 5 s circuit breaker, and one read fails within ~dial_timeout.
    faultHandling: { host: () => passThroughPolicy(), global: acrossHosts(etcd.hosts.length, etcd.dial_timeout) },
  };
  if (etcd.tls) {
    opts.credentials = {
      // grpc-js uses its default roots when rootCertificate is null.
      rootCertificate: (etcd.tls.ca === null ? null : Buffer.from(etcd.tls.ca)) as Buffer,
      ...(etcd.tls.cert !== null ? { certChain: Buffer.from(etcd.tls.cert) } : {}),
      ...(etcd.tls.key !== null ? { privateKey: Buffer.from(etcd.tls.key) } : {}),
    };
  }
  if (etcd.username !== null) opts.auth = { username: etcd.username, password: etcd.password ?? '', callOptions };
  return opts;
}
