import { describe, expect, it } from 'vitest';
import { PendingRequests } from '../../../src/cluster/pending-requests.js';

describe('PendingRequests', () => {
  it('resolves a request with its answer and ignores a late duplicate', async () => {
    const p = new PendingRequests<string>();
    const { id, answer } = p.create(1_000, 'q');
    expect(p.resolve(id, 'a')).toBe(true);
    expect(p.resolve(id, 'b')).toBe(false);
    await expect(answer).resolves.toBe('a');
    expect(p.size).toBe(0);
  });

  it('answers with the default after the deadline when one is given, and rejects otherwise', async () => {
    const p = new PendingRequests<string | null>();
    await expect(p.create(5, 'lookup', () => null).answer).resolves.toBeNull();
    await expect(p.create(5, 'stats').answer).rejects.toThrow('stats: no answer within 5 ms');
  });

  it('fails every open request at once when the other side is gone', async () => {
    const p = new PendingRequests<number>();
    const a = p.create(10_000, 'a').answer;
    const b = p.create(10_000, 'b').answer;
    p.rejectAll(new Error('worker 3 exited'));
    await expect(a).rejects.toThrow('worker 3 exited');
    await expect(b).rejects.toThrow('worker 3 exited');
    expect(p.size).toBe(0);
  });

  it('gives every request its own id', async () => {
    const p = new PendingRequests<number>();
    const requests = Array.from({ length: 100 }, () => p.create(10_000, 'x'));
    expect(new Set(requests.map((r) => r.id)).size).toBe(100);
    p.rejectAll(new Error('done'));
    await Promise.allSettled(requests.map((r) => r.answer));
  });
});
