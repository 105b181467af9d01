import { afterEach, describe, expect, it } from 'vitest';
import type { ChecksConfig } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { Prober, checkName, checksFor, networkReason, type ProbeEvent } from '../../../src/discovery/prober.js';
import { waitFor } from '../../harness/wait.js';
import { FakePatroni, type FakeRole } from './fake-patroni.js';

const CHECKS: ChecksConfig = { interval: 60_000, timeout: 300, fall: 3, rise: 2, fast_interval: 20, tls: null };
// For tests that count probes exactly: no transition re-probes (fast_interval = interval).
const STEADY: ChecksConfig = { ...CHECKS, fast_interval: CHECKS.interval };

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function fake(role: FakeRole) {
  const f = await FakePatroni.start(role);
  cleanup.push(() => f.close());
  return f;
}

function prober(replicaLags: (number | null)[], checks: ChecksConfig = CHECKS) {
  const results: string[] = [];
  const probes: ProbeEvent[] = [];
  const p = new Prober({ checks, replicaLags, log: silentLogger(), onResult: (m) => results.push(m), onProbe: (e) => probes.push(e) });
  cleanup.push(() => p.close());
  p.start();
  return { p, results, probes };
}

describe('checksFor', () => {
  it('probes /primary and one /replica per distinct max_lag', () => {
    expect(checksFor([null, 1048576, null, 1048576]).map((c) => [c.id, c.path])).toEqual([
      ['primary', '/primary'],
      ['any', '/replica'],
      ['1048576', '/replica?lag=1048576'],
    ]);
    expect(checksFor([]).map((c) => c.path)).toEqual(['/primary']);
  });
});

describe('checksFor with sync and read_only listeners (issue 13)', () => {
  it('adds /sync and /read-only per distinct lag, only for the roles that have listeners', () => {
    expect(checksFor([null], [null, 1048576], [1048576]).map((c) => [c.kind, c.id, c.path])).toEqual([
      ['primary', 'primary', '/primary'],
      ['replica', 'any', '/replica'],
      ['sync', 'any', '/sync'],
      ['sync', '1048576', '/sync?lag=1048576'],
      ['read_only', '1048576', '/read-only?lag=1048576'],
    ]);
    expect(checksFor([null]).map((c) => c.kind)).toEqual(['primary', 'replica']);
  });

  it('names the checks in probe events by kind and key', () => {
    expect(checksFor([], [null], [1024]).map((c) => checkName(c))).toEqual(['primary', 'sync:any', 'read_only:1024']);
  });
});

describe('networkReason', () => {
  it('shortens timeouts and socket errors', () => {
    expect(networkReason(Object.assign(new Error('x'), { name: 'TimeoutError' }))).toBe('timeout');
    expect(networkReason(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe('timeout');
    expect(networkReason(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(networkReason(new Error('fetch failed', { cause: Object.assign(new Error('y'), { code: 'ECONNRESET' }) }))).toBe('ECONNRESET');
  });
});

describe('Prober against fake Patroni REST APIs', () => {
  it('probes every member at once on start and records primary and replica checks', async () => {
    const [a, b] = [await fake('master'), await fake('replica')];
    const { p, probes } = prober([null, 1048576], STEADY);
    p.setTargets([{ name: 'a', api: a.url }, { name: 'b', api: b.url }]);
    await waitFor(() => probes.length === 6, { timeoutMs: 5_000, what: '6 probes' });
    const r = p.records();
    expect(r.get('a')?.primary).toMatchObject({ lastOk: true, lastStatus: 200, role: 'master', successes: 1, up: false });
    expect(r.get('b')?.primary).toMatchObject({ lastOk: false, lastStatus: 503, error: '503', role: 'replica' });
    expect(r.get('b')?.replica.get('any')).toMatchObject({ lastOk: true });
    expect(r.get('b')?.replica.get('1048576')).toMatchObject({ lastOk: true });
    expect(b.paths.sort()).toEqual(['/primary', '/replica', '/replica?lag=1048576']);
    expect(probes.every((e) => e.ms >= 0 && e.ms < 5_000)).toBe(true);
  });

  it('marks a replica over the lag limit as lagging', async () => {
    const c = await fake('lagging');
    const { p, probes } = prober([null, 1024], STEADY);
    p.setTargets([{ name: 'c', api: c.url }]);
    await waitFor(() => probes.length === 3, { timeoutMs: 5_000, what: '3 probes' });
    expect(p.records().get('c')?.replica.get('1024')).toMatchObject({ lastOk: false, lagging: true, error: 'over lag limit' });
    expect(p.records().get('c')?.replica.get('any')).toMatchObject({ lastOk: true, lagging: false });
  });

  it('fails a /primary 200 from a server still in recovery (promotion not finished)', async () => {
    const d = await fake('promoting');
    const { p, probes } = prober([]);
    p.setTargets([{ name: 'd', api: d.url }]);
    await waitFor(() => probes.length === 1, { timeoutMs: 5_000, what: '1 probe' });
    expect(p.records().get('d')?.primary).toMatchObject({ lastOk: false, lastStatus: 200, error: 'not promoted yet (role replica)' });
  });

  it('reports timeouts, refused connections, odd statuses and members without api', async () => {
    const [h, g] = [await fake('hang'), await fake('garbage')];
    const closed = await FakePatroni.start('master');
    const deadUrl = closed.url;
    await closed.close();
    const { p, probes } = prober([]);
    p.setTargets([
      { name: 'hang', api: h.url },
      { name: 'garbage', api: g.url },
      { name: 'dead', api: deadUrl },
      { name: 'noapi', api: null },
    ]);
    await waitFor(() => probes.length === 4, { timeoutMs: 5_000, what: '4 probes' });
    const err = (n: string) => p.records().get(n)?.primary.error;
    expect([err('hang'), err('garbage'), err('dead'), err('noapi')]).toEqual(['timeout', 'HTTP 502', 'ECONNREFUSED', 'no api_url']);
  });

  it('re-probes on probeNow, coalescing with a round in flight, and fast-probes /primary only', async () => {
    const a = await fake('replica');
    const { p, probes } = prober([null]);
    p.setTargets([{ name: 'a', api: a.url }]);
    // The start round is in flight: these two requests collapse into one more round.
    p.probeNow(['a', 'missing']);
    p.probeNow(['a']);
    await waitFor(() => probes.length === 4, { timeoutMs: 5_000, what: '2 rounds' });
    expect(a.paths.filter((x) => x === '/primary')).toHaveLength(2);
    a.role = 'master';
    p.setFast(['a']);
    await waitFor(() => p.records().get('a')?.primary.up, { timeoutMs: 5_000, what: 'a up after fast probes' });
    const replicaProbes = a.paths.filter((x) => x === '/replica').length;
    expect(replicaProbes).toBe(2);
    p.setFast([]);
  });

  it('counts the rest of rise and fall at fast_interval once a check is in transition (HAProxy fastinter)', async () => {
    // interval is 60 s: without transition re-probes, rise 2 and fall 3 would take minutes.
    const a = await fake('master');
    const { p } = prober([]);
    p.setTargets([{ name: 'a', api: a.url }]);
    await waitFor(() => p.records().get('a')?.primary.up, { timeoutMs: 3_000, what: 'rise 2 within seconds' });
    a.role = 'replica';
    p.probeNow(['a']);
    await waitFor(() => p.records().get('a')?.primary.up === false, { timeoutMs: 3_000, what: 'fall 3 within seconds' });
    expect(p.records().get('a')?.primary.failures).toBe(3);
  });

  it('forgets members that left and restarts members whose api changed', async () => {
    const [a, b] = [await fake('master'), await fake('master')];
    const { p, probes } = prober([], STEADY);
    p.setTargets([{ name: 'a', api: a.url }]);
    await waitFor(() => probes.length === 1, { timeoutMs: 5_000, what: 'first probe' });
    p.setTargets([{ name: 'a', api: b.url }]);
    await waitFor(() => probes.length === 2, { timeoutMs: 5_000, what: 'probe of the new api' });
    expect(p.records().get('a')?.primary.successes).toBe(1);
    expect(b.paths).toEqual(['/primary']);
    p.setTargets([]);
    expect(p.records().size).toBe(0);
  });
});
