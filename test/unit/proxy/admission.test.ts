import { describe, expect, it } from 'vitest';
import { Admission } from '../../../src/proxy/admission.js';

describe('Admission (maxconn)', () => {
  it('admits everyone when maxconn is 0', () => {
    const a = new Admission(0);
    for (let i = 0; i < 100; i++) expect(a.acquire(() => undefined)).toBe(true);
  });

  it('queues beyond maxconn and hands released slots to waiters in FIFO order', () => {
    const a = new Admission(1);
    const granted: string[] = [];
    expect(a.acquire(() => granted.push('first'))).toBe(true);
    expect(a.acquire(() => granted.push('second'))).toBe(false);
    expect(a.acquire(() => granted.push('third'))).toBe(false);
    expect(a.stats()).toEqual({ active: 1, queued: 2 });
    a.release();
    expect(granted).toEqual(['second']);
    a.release();
    expect(granted).toEqual(['second', 'third']);
    a.release();
    expect(a.stats()).toEqual({ active: 0, queued: 0 });
  });

  it('forgets a waiter that withdrew and does not let a newcomer jump the queue', () => {
    const a = new Admission(1);
    const granted: string[] = [];
    a.acquire(() => undefined);
    const gone = (): void => {
      granted.push('gone');
    };
    a.acquire(gone);
    a.acquire(() => granted.push('stays'));
    a.withdraw(gone);
    a.release();
    expect(granted).toEqual(['stays']);
    expect(a.acquire(() => granted.push('late'))).toBe(false);
  });

  it('lets queued clients in at once when a reload raises maxconn, and keeps held slots when it lowers it', () => {
    const a = new Admission(1);
    const granted: string[] = [];
    a.acquire(() => undefined);
    a.acquire(() => granted.push('second'));
    a.acquire(() => granted.push('third'));
    a.setLimit(2);
    expect(granted).toEqual(['second']);
    expect(a.stats()).toEqual({ active: 2, queued: 1 });
    a.setLimit(1);
    expect(a.stats()).toEqual({ active: 2, queued: 1 });
    a.release();
    expect(granted).toEqual(['second']);
    a.release();
    expect(granted).toEqual(['second', 'third']);
    a.setLimit(0);
    expect(a.acquire(() => undefined)).toBe(true);
  });
});
