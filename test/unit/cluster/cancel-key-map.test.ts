import { describe, expect, it } from 'vitest';
import { CancelKeyMap } from '../../../src/cluster/cancel-key-map.js';
import { cancelKeyId } from '../../../src/protocol/cancel-key.js';

const key = (hex: string): Buffer => Buffer.from(hex, 'hex');
const owner = (workerId: number, port = 5432) => ({ host: '10.0.0.1', port, workerId, sessionId: `s${workerId}` });

describe('CancelKeyMap', () => {
  it('finds the backend of a known (pid, key) and forgets it when its session ends', () => {
    const m = new CancelKeyMap();
    m.set(42, key('01020304'), owner(1, 5442));
    expect(m.get(42, key('01020304'))).toMatchObject({ host: '10.0.0.1', port: 5442, workerId: 1 });
    expect(m.get(42, key('01020305'))).toBeNull();
    expect(m.get(43, key('01020304'))).toBeNull();
    m.delete(42, key('01020304'), 1);
    expect(m.get(42, key('01020304'))).toBeNull();
    expect(m.stats()).toEqual({ size: 0, evicted: 0 });
  });

  it('keeps keys of any protocol 3.2 length apart (4 to 256 bytes)', () => {
    const m = new CancelKeyMap();
    m.set(1, Buffer.alloc(4, 1), owner(1, 1));
    m.set(1, Buffer.alloc(256, 1), owner(1, 2));
    expect(m.get(1, Buffer.alloc(4, 1))?.port).toBe(1);
    expect(m.get(1, Buffer.alloc(256, 1))?.port).toBe(2);
  });

  it('treats pids as unsigned 32-bit numbers', () => {
    expect(cancelKeyId(-1, key('00000000'))).toBe(cancelKeyId(0xffffffff, key('00000000')));
  });

  it('does not let an old owner\'s "gone" remove a key that another worker now owns', () => {
    const m = new CancelKeyMap();
    m.set(7, key('aabbccdd'), owner(1));
    m.set(7, key('aabbccdd'), owner(2));
    m.delete(7, key('aabbccdd'), 1);
    expect(m.get(7, key('aabbccdd'))?.workerId).toBe(2);
  });

  it('drops every key of a worker that exited, and only those', () => {
    const m = new CancelKeyMap();
    m.set(1, key('00000001'), owner(1));
    m.set(2, key('00000002'), owner(1));
    m.set(3, key('00000003'), owner(2));
    expect(m.dropWorker(1)).toBe(2);
    expect(m.dropWorker(1)).toBe(0);
    expect(m.get(3, key('00000003'))?.workerId).toBe(2);
    expect(m.stats().size).toBe(1);
  });

  it('evicts the oldest keys beyond its bound and counts them', () => {
    const m = new CancelKeyMap(3);
    for (let pid = 1; pid <= 5; pid++) m.set(pid, key('01010101'), owner(pid % 2));
    expect(m.stats()).toEqual({ size: 3, evicted: 2 });
    expect(m.get(1, key('01010101'))).toBeNull();
    expect(m.get(2, key('01010101'))).toBeNull();
    expect(m.get(5, key('01010101'))).not.toBeNull();
    // Evicted keys are gone from the per-worker index too.
    expect(m.dropWorker(1)).toBe(2);
  });
});
