import { describe, expect, it } from 'vitest';
import type { EtcdConfig } from '../../../src/config/types.js';
import { Metadata, type Interceptor, type InterceptorOptions } from '@grpc/grpc-js';
import { etcdClientOptions, requireLeader } from '../../../src/discovery/etcd-client.js';
import { changedKeys, prefixRangeEnd } from '../../../src/discovery/etcd-source.js';

const etcd: EtcdConfig = {
  hosts: [{ host: '10.0.0.1', port: 2379 }, { host: 'fd00::1', port: 2379 }],
  protocol: 'https',
  tls: { ca: 'CA', cert: 'CERT', key: 'KEY' },
  username: 'pgrouter',
  password: 'secret',
  dial_timeout: 1_500,
  resync_interval: 30_000,
};

describe('etcd helpers', () => {
  it('ends a prefix range at the prefix with its last byte incremented', () => {
    expect(prefixRangeEnd(Buffer.from('/service/pg/')).toString()).toBe('/service/pg0');
    expect([...prefixRangeEnd(Buffer.from([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixRangeEnd(Buffer.from([0xff]))]).toEqual([0]);
  });

  it('lists added, changed and removed keys', () => {
    const before = new Map([['leader', 'node1'], ['members/node1', 'a'], ['members/node2', 'b']]);
    const after = new Map([['leader', 'node2'], ['members/node1', 'a'], ['members/node3', 'c']]);
    expect(changedKeys(before, after).sort()).toEqual(['leader', 'members/node2', 'members/node3']);
  });

  it('builds etcd3 options: URLs, TLS client certificate, auth, deadlines only on unary calls', () => {
    const o = etcdClientOptions(etcd);
    expect(o.hosts).toEqual(['https://10.0.0.1:2379', 'https://[fd00::1]:2379']);
    expect(o.credentials?.rootCertificate.toString()).toBe('CA');
    expect(o.credentials?.certChain?.toString()).toBe('CERT');
    expect(o.credentials?.privateKey?.toString()).toBe('KEY');
    expect(o.auth).toMatchObject({ username: 'pgrouter', password: 'secret' });
    const factory = o.defaultCallOptions as (ctx: { isStream: boolean }) => { deadline?: number; interceptors?: unknown[] };
    const before = Date.now();
    expect(factory({ isStream: false }).deadline).toBeGreaterThanOrEqual(before + 1_500);
    expect(factory({ isStream: false }).interceptors).toBeUndefined();
    expect(factory({ isStream: true })).toEqual({ interceptors: [requireLeader] });
    const plain = etcdClientOptions({ ...etcd, protocol: 'http', tls: null, username: null, password: null });
    expect(plain.credentials).toBeUndefined();
    expect(plain.auth).toBeUndefined();
  });

  it('asks etcd for a leader on the watch stream (hasleader: true, clientv3.WithRequireLeader)', () => {
    let sent: Metadata | null = null;
    const next = { start: (md: Metadata) => void (sent = md) } as unknown as ReturnType<Parameters<Interceptor>[1]>;
    const call = requireLeader({} as InterceptorOptions, () => next);
    call.start(new Metadata(), {});
    expect((sent as Metadata | null)?.get('hasleader')).toEqual(['true']);
  });
});
