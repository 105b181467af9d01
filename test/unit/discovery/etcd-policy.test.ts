import { GRPCUnavailableError, EtcdPermissionDeniedError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { acrossHosts, passThroughPolicy } from '../../../src/discovery/etcd-policy.js';

describe('etcd fault policies', () => {
  it('passes every call through, success or failure', async () => {
    const p = passThroughPolicy();
    await expect(p.execute(() => 42)).resolves.toBe(42);
    await expect(p.execute(() => Promise.reject(new GRPCUnavailableError('down')))).rejects.toThrow('down');
  });

  it('tries each host once on recoverable errors, then gives up', async () => {
    let calls = 0;
    const fail = () => {
      calls++;
      throw new GRPCUnavailableError('down');
    };
    await expect(acrossHosts(3, 10_000).execute(fail)).rejects.toThrow('down');
    expect(calls).toBe(3);
    calls = 0;
    await expect(acrossHosts(1, 10_000).execute(fail)).rejects.toThrow('down');
    expect(calls).toBe(1);
  });

  it('succeeds on a later host, and does not retry errors that are not about reachability', async () => {
    let calls = 0;
    await expect(acrossHosts(3, 10_000).execute(() => (++calls < 2 ? Promise.reject(new GRPCUnavailableError('x')) : 'ok'))).resolves.toBe('ok');
    calls = 0;
    const denied = () => {
      calls++;
      throw new EtcdPermissionDeniedError('denied');
    };
    await expect(acrossHosts(3, 10_000).execute(denied)).rejects.toThrow('denied');
    expect(calls).toBe(1);
  });

  it('stops retrying once the time budget is spent', async () => {
    let calls = 0;
    const slow = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 30));
      throw new GRPCUnavailableError('slow');
    };
    await expect(acrossHosts(5, 20).execute(slow)).rejects.toThrow('slow');
    expect(calls).toBe(1);
  });
});
