// The pure parts of cancel key rewriting and the cancel caps (issue 10, defect 4).
import { describe, expect, it } from 'vitest';
import type { CancelConfig } from '../../../src/config/types.js';
import { decodeRewrittenPid, rewrittenPid } from '../../../src/protocol/cancel-key.js';
import { cancelRoute, keyRewriter } from '../../../src/proxy/cancel-keys.js';
import { CancelLimiter } from '../../../src/proxy/cancel-limiter.js';

const ON: CancelConfig = { max_inflight: 64, max_inflight_per_client: 8, rewrite_keys: true, instance_id: 7, peers: [{ id: 9, host: '10.0.0.9', port: 5432 }] };

describe('rewritten pids', () => {
  it.each([
    [0, 0, 1],
    [7, 3, 42],
    [255, 255, 0x3fff],
  ])('encode instance %i, slot %i, counter %i as a positive Int32 that decodes back', (instance, slot, counter) => {
    const pid = rewrittenPid(instance, slot, counter);
    expect(pid).toBeGreaterThan(0);
    expect(pid).toBeLessThan(2 ** 31);
    expect(decodeRewrittenPid(pid)).toEqual({ instance, slot });
  });

  it.each([1, 4_194_303, 99_999, 0x7fff_ffff & ~(1 << 30), 0x8000_0000 | (1 << 30)])('never takes pid %i for one of its own', (pid) => {
    // Real PostgreSQL pids on Linux are below 2^22; negative Int32 pids are not ours either.
    expect(decodeRewrittenPid(pid >>> 0)).toBeNull();
  });
});

describe('cancelRoute', () => {
  it.each([
    ['a plain pid with rewriting off', { ...ON, rewrite_keys: false }, rewrittenPid(7, 0, 1), { kind: 'plain' }],
    ['a plain pid (a key pgrouter never saw)', ON, 4242, { kind: 'plain' }],
    ['a key this instance made', ON, rewrittenPid(7, 2, 5), { kind: 'own' }],
    ['a key a configured peer made', ON, rewrittenPid(9, 0, 5), { kind: 'peer', id: 9, host: '10.0.0.9', port: 5432 }],
    ['a key an unknown instance made', ON, rewrittenPid(8, 0, 5), { kind: 'unknown', instance: 8 }],
  ] as const)('routes %s', (_what, config, pid, route) => {
    expect(cancelRoute(pid, config)).toEqual(route);
  });
});

describe('keyRewriter', () => {
  it('makes keys of the length asked for, naming its instance and slot, each pid different', () => {
    let fill = 0;
    const make = keyRewriter(7, 3, (b) => b.fill(++fill));
    const a = make(4);
    const b = make(32);
    expect(a.key).toEqual(Buffer.alloc(4, 1));
    expect(b.key).toEqual(Buffer.alloc(32, 2));
    expect(decodeRewrittenPid(a.pid)).toEqual({ instance: 7, slot: 3 });
    expect(a.pid).not.toBe(b.pid);
  });
});

describe('CancelLimiter', () => {
  it('gives slots up to both caps, all or none, and takes them back one by one', () => {
    const l = new CancelLimiter({ max_inflight: 5, max_inflight_per_client: 3 });
    expect(l.tryAcquire('a', 3)).toBe(true);
    expect(l.tryAcquire('a', 1)).toBe(false);
    expect(l.tryAcquire('b', 3)).toBe(false);
    expect(l.tryAcquire('b', 2)).toBe(true);
    expect(l.current).toBe(5);
    l.release('a');
    expect(l.tryAcquire('b', 1)).toBe(true);
    for (let i = 0; i < 2; i++) l.release('a');
    l.setLimits({ max_inflight: 10, max_inflight_per_client: 10 });
    expect(l.tryAcquire('a', 4)).toBe(true);
  });
});
