// The waiter owns timers: fake timers let these tests run the clock instead of sleeping.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TimeoutsConfig } from '../../../src/config/types.js';
import type { MemberView } from '../../../src/view/cluster-view.js';
import { Admission } from '../../../src/proxy/admission.js';
import { BackendWaiter, CONNECT_RETRY_MS, type Route, type Wakeable, type WaiterContext } from '../../../src/proxy/backend-waiter.js';
import { listenerConfig, testConfig } from './helpers/config.js';
import { member } from './helpers/view.js';

interface Harness {
  ctx: WaiterContext;
  held: Set<Wakeable>;
  setMembers(ms: MemberView[]): void;
  events: Array<{ kind: 'route'; name: string } | { kind: 'refuse'; reason: string; message: string }>;
  waiter(): BackendWaiter;
}

function harness(opts: { maxconn?: number; timeouts?: Partial<TimeoutsConfig> } = {}): Harness {
  let members: MemberView[] = [];
  const held = new Set<Wakeable>();
  const events: Harness['events'] = [];
  const ctx: WaiterContext = {
    listener: listenerConfig({ name: 'rw', maxconn: opts.maxconn ?? 0 }),
    timeouts: testConfig({ timeouts: { connect_wait: 1_000, queue: 500, ...opts.timeouts } }).timeouts,
    admission: new Admission(opts.maxconn ?? 0),
    now: () => Date.now(),
    route: (exclude): Route | null => {
      const m = members.find((x) => !exclude.has(x.name));
      return m ? { member: m, viaFallback: false } : null;
    },
    hold: (w) => held.add(w),
    unhold: (w) => held.delete(w),
  };
  return {
    ctx,
    held,
    events,
    setMembers: (ms) => {
      members = ms;
    },
    waiter: () =>
      new BackendWaiter(ctx, {
        onRoute: (r) => events.push({ kind: 'route', name: r.member.name }),
        onRefuse: (reason, message) => events.push({ kind: 'refuse', reason, message: message.toString('latin1') }),
        guard: (fn) => fn,
      }),
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('BackendWaiter', () => {
  it('routes at once when a slot and a backend are free', () => {
    const h = harness();
    h.setMembers([member({ name: 'n1' })]);
    h.waiter().begin();
    expect(h.events).toEqual([{ kind: 'route', name: 'n1' }]);
  });

  it('holds without a backend and routes when woken by a view that has one', () => {
    const h = harness();
    const w = h.waiter();
    w.begin();
    expect(h.held.has(w)).toBe(true);
    vi.advanceTimersByTime(500);
    h.setMembers([member({ name: 'n2' })]);
    w.wake();
    expect(h.events).toEqual([{ kind: 'route', name: 'n2' }]);
    expect(h.held.size).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(h.events.length).toBe(1);
  });

  it('refuses with 57P03 when connect_wait is over', () => {
    const h = harness();
    h.waiter().begin();
    vi.advanceTimersByTime(999);
    expect(h.events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.events).toMatchObject([{ kind: 'refuse', reason: 'no_backend' }]);
    expect(h.events[0]).toMatchObject({ message: expect.stringContaining('C57P03\0Mno primary available for listener rw\0') });
    expect(h.held.size).toBe(0);
  });

  it('refuses at once when connect_wait is 0', () => {
    const h = harness({ timeouts: { connect_wait: 0 } });
    h.waiter().begin();
    expect(h.events).toMatchObject([{ kind: 'refuse', reason: 'no_backend' }]);
  });

  it('skips a backend that failed, and tries every one again shortly when all failed', () => {
    const h = harness();
    h.setMembers([member({ name: 'n1' }), member({ name: 'n2' })]);
    const w = h.waiter();
    w.begin();
    w.retry('n1');
    w.retry('n2');
    expect(h.events.map((e) => (e.kind === 'route' ? e.name : e.reason))).toEqual(['n1', 'n2']);
    vi.advanceTimersByTime(CONNECT_RETRY_MS);
    expect(h.events.map((e) => (e.kind === 'route' ? e.name : e.reason))).toEqual(['n1', 'n2', 'n1']);
  });

  it('measures connect_wait from the first hold, across retries', () => {
    const h = harness();
    const w = h.waiter();
    w.begin();
    vi.advanceTimersByTime(600);
    h.setMembers([member({ name: 'n1' })]);
    w.wake();
    h.setMembers([]);
    w.retry('n1');
    vi.advanceTimersByTime(399);
    expect(h.events.filter((e) => e.kind === 'refuse')).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.events.filter((e) => e.kind === 'refuse')).toMatchObject([{ reason: 'no_backend' }]);
  });

  it('queues beyond maxconn, passes a released slot on, and refuses with 53300 after timeouts.queue', () => {
    const h = harness({ maxconn: 1 });
    h.setMembers([member({ name: 'n1' })]);
    const first = h.waiter();
    const second = h.waiter();
    const third = h.waiter();
    first.begin();
    second.begin();
    third.begin();
    expect(h.events.length).toBe(1);
    first.close();
    expect(h.events.length).toBe(2);
    vi.advanceTimersByTime(500);
    expect(h.events[2]).toMatchObject({ kind: 'refuse', reason: 'queue_timeout', message: expect.stringContaining('C53300\0Mtoo many connections for listener rw\0') });
    second.close();
    expect(h.ctx.admission.stats()).toEqual({ active: 0, queued: 0 });
  });

  it('releases everything on close, and ignores calls afterwards', () => {
    const h = harness({ maxconn: 1 });
    const w = h.waiter();
    w.begin();
    w.close();
    expect(h.held.size).toBe(0);
    expect(h.ctx.admission.stats()).toEqual({ active: 0, queued: 0 });
    vi.advanceTimersByTime(10_000);
    w.retry(null);
    w.wake();
    expect(h.events).toEqual([]);
  });
});

describe('BackendWaiter while the listener is paused (issue 13)', () => {
  function paused(holdMs: number): { h: Harness; resume(): void } {
    const h = harness();
    let pause: { since: number; hold_ms: number } | null = { since: 0, hold_ms: holdMs };
    h.ctx.pause = () => pause;
    const route = h.ctx.route;
    // A paused listener routes nobody, whatever the view says (Listener.route).
    h.ctx.route = (exclude) => (pause ? null : route(exclude));
    return {
      h,
      resume: () => {
        pause = null;
      },
    };
  }

  it('holds a client up to the pause\'s own limit, not connect_wait, and says why it gives up', () => {
    const { h } = paused(5_000);
    h.setMembers([member({ name: 'n1' })]);
    h.waiter().begin();
    vi.advanceTimersByTime(4_999);
    expect(h.events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.events).toMatchObject([{ kind: 'refuse', reason: 'paused', message: expect.stringContaining('C57P03\0Mlistener rw is paused for maintenance\0') }]);
  });

  it('routes a held client as soon as the listener is resumed', () => {
    const { h, resume } = paused(5_000);
    h.setMembers([member({ name: 'n1' })]);
    const w = h.waiter();
    w.begin();
    vi.advanceTimersByTime(3_000);
    resume();
    w.wake();
    expect(h.events).toEqual([{ kind: 'route', name: 'n1' }]);
  });
});

describe('BackendWaiter messages per listener role', () => {
  it('names what a sync listener was waiting for', () => {
    const h = harness({ timeouts: { connect_wait: 0 } });
    (h.ctx as { listener: unknown }).listener = listenerConfig({ name: 'sync', role: 'sync' });
    h.waiter().begin();
    expect(h.events[0]).toMatchObject({ message: expect.stringContaining('no synchronous standby available for listener sync') });
  });
});
