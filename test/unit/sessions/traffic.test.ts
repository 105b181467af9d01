import { describe, expect, it } from 'vitest';
import { TrafficCounter, type LiveSession } from '../../../src/sessions/traffic.js';

function session(backend: string): { backend: string; bytesIn: number; bytesOut: number } {
  return { backend, bytesIn: 0, bytesOut: 0 };
}

const gauges = { current: 0, queued: 0, held: 0 };

describe('TrafficCounter', () => {
  it('counts sessions per backend with their maximum, and folds bytes in when a relay ends', () => {
    const t = new TrafficCounter();
    const a = session('n1');
    const b = session('n1');
    t.accepted();
    t.accepted();
    t.relayStarted(a);
    t.relayStarted(b);
    a.bytesIn += 10;
    b.bytesOut += 300;
    let snap = t.snapshot({ current: 2, queued: 1, held: 0 });
    expect(snap).toMatchObject({ current: 2, total: 2, queued: 1, bytes_in: 10, bytes_out: 300 });
    expect(snap.backends['n1']).toMatchObject({ current: 2, max: 2, total: 2, bytes_in: 10, bytes_out: 300 });
    t.relayEnded(a, 'client_closed');
    a.bytesIn += 1_000; // late bytes of an ended session are not counted twice
    t.relayEnded(a, 'client_closed');
    snap = t.snapshot(gauges);
    expect(snap.backends['n1']).toMatchObject({ current: 1, max: 2, total: 2, bytes_in: 10 });
    expect(snap.closed).toEqual({ client_closed: 1 });
  });

  it('never lets the byte totals go down while sessions end (counters must be monotonic)', () => {
    const t = new TrafficCounter();
    const sessions: LiveSession[] = [];
    let last = 0;
    for (let i = 0; i < 20; i++) {
      const s = session(i % 2 === 0 ? 'n1' : 'n2');
      t.relayStarted(s);
      s.bytesIn += i + 1;
      sessions.push(s);
      const now = t.snapshot(gauges).bytes_in;
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
      if (i % 3 === 0) t.relayEnded(sessions.shift() as LiveSession, 'server_closed');
    }
    expect(t.snapshot(gauges).bytes_in).toBe(210);
  });

  it('counts refusals by reason, connect errors, and ended sessions by reason with kills per backend', () => {
    const t = new TrafficCounter();
    t.refused('no_backend');
    t.refused('no_backend');
    t.refused('startup_timeout');
    t.connectError('n2');
    const s = session('n1');
    t.relayStarted(s);
    t.relayEnded(s, 'killed_not_primary');
    const timedOut = session('n1');
    t.relayStarted(timedOut);
    t.relayEnded(timedOut, 'client_timeout');
    const snap = t.snapshot(gauges);
    expect(snap.refusals).toEqual({ no_backend: 2, startup_timeout: 1 });
    expect(snap.backends['n2']).toMatchObject({ connect_errors: 1, total: 0 });
    expect(snap.backends['n1']?.killed).toEqual({ not_primary: 1 });
    expect(snap.closed).toEqual({ killed_not_primary: 1, client_timeout: 1 });
  });
});
