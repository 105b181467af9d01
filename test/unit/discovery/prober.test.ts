import { afterEach, describe, expect, it } from 'vitest';
import type { ChecksConfig } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { Prober, checkName, checksFor, networkReason, type ProbeEvent } from '../../../src/discovery/prober.js';
import { waitFor } from '../../harness/wait.js';
import { FakePatroni, type FakeRole } from './fake-patroni.js';

const CHECKS: ChecksConfig = { interval: 60_000, timeout: 300, fall: 3, rise: 2, fast_interval: 20, fastinter: 60_000, tls: null };
// For tests that count probes exactly: no fast re-probes at all (fast_interval = interval).
const STEADY: ChecksConfig = { ...CHECKS, fast_interval: CHECKS.interval };
// pgrouter's defaults: HAProxy's `inter 3s fall 3 rise 2`, fastinter = interval.
const DEFAULTS: ChecksConfig = { interval: 3_000, timeout: 1_000, fall: 3, rise: 2, fast_interval: 100, fastinter: 3_000, tls: null };

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

  it('counts the rest of rise and fall at checks.fastinter once a check is in transition (HAProxy fastinter)', async () => {
    // interval is 60 s: without transition re-probes, rise 2 and fall 3 would take minutes.
    const a = await fake('master');
    const { p } = prober([], { ...CHECKS, fastinter: 20 });
    p.setTargets([{ name: 'a', api: a.url }]);
    await waitFor(() => p.records().get('a')?.primary.up, { timeoutMs: 3_000, what: 'rise 2 within seconds' });
    a.role = 'garbage';
    p.probeNow(['a']);
    await waitFor(() => p.records().get('a')?.primary.up === false, { timeoutMs: 3_000, what: 'fall 3 within seconds' });
    expect(p.records().get('a')?.primary.failures).toBe(3);
  });

  it.each([
    ['in recovery (it demoted itself)', 'replica'],
    ['without the leader lock (503, PostgreSQL running)', 'unleased'],
  ] as const)('takes a primary that Patroni reports %s down at that answer, without counting fall', async (_what, role) => {
    // fastinter 60 s: counting fall 3 would take two minutes.
    const a = await fake('master');
    const { p } = prober([], { ...CHECKS, fastinter: 60_000 });
    p.setTargets([{ name: 'a', api: a.url }]);
    await waitFor(() => (p.records().get('a')?.primary.successes ?? 0) >= 1, { timeoutMs: 3_000, what: 'first success' });
    p.probeNow(['a']);
    await waitFor(() => p.records().get('a')?.primary.up === true, { timeoutMs: 3_000, what: 'a up after rise 2' });
    a.role = role;
    p.probeNow(['a']);
    await waitFor(() => p.records().get('a')?.primary.lastOk === false, { timeoutMs: 3_000, what: 'the probe after the demotion' });
    expect(p.records().get('a')?.primary).toMatchObject({ up: false, failures: 1 });
  });

  // Issue 10, defect 1: with fall counted at fast_interval, three failures 200 ms apart took a
  // healthy primary down and killed every RW session. Patroni restarted in maintenance mode, a
  // stalled REST thread or a 502 from a proxy in front of it cause such outages.
  type Fault = (a: FakePatroni) => Promise<void>;
  const outages: Array<[string, Fault, Fault]> = [
    ['refuses connections', (a) => a.pause(), (a) => a.resume()],
    ['answers with a 502 page', async (a) => void (a.role = 'garbage'), async (a) => void (a.role = 'master')],
  ];
  it.each(outages)('keeps a healthy primary up when its REST API %s for 0.5 s, with the default fall 3 × interval 3 s', async (_what, outage, back) => {
    const a = await fake('master');
    const downs: number[] = [];
    const { p, probes } = prober([], DEFAULTS);
    const seen = () => p.records().get('a')?.primary;
    p.setTargets([{ name: 'a', api: a.url }]);
    // Up after rise 2: the second probe is asked for, not waited for.
    await waitFor(() => (seen()?.successes ?? 0) >= 1, { timeoutMs: 5_000, what: 'first success' });
    p.probeNow(['a']);
    await waitFor(() => seen()?.up === true, { timeoutMs: 5_000, what: 'a up after rise 2' });
    const watch = setInterval(() => {
      if (seen()?.up === false) downs.push(Date.now());
    }, 5);
    cleanup.push(async () => clearInterval(watch));

    // The outage starts with a failed probe (an etcd event asks for one, or the interval's).
    await outage(a);
    const before = probes.length;
    p.probeNow(['a']);
    await waitFor(() => probes.length > before, { timeoutMs: 5_000, what: 'the probe during the outage' });
    expect(seen()).toMatchObject({ up: true, failures: 1 });
    // The fault lasts 0.5 s: a scenario's duration, not a wait for a condition.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await back(a);
    await waitFor(() => seen()?.lastOk === true, { timeoutMs: 10_000, what: 'a successful probe after the outage' });
    clearInterval(watch);
    expect(downs).toEqual([]);
    expect(seen()).toMatchObject({ up: true, failures: 0 });
    // Only one failed probe fell inside the outage: the next came at fastinter (3 s), not 100 ms.
    expect(probes.filter((e) => !e.ok)).toHaveLength(1);
  }, 20_000);

  it('re-probes a rising replica check at fastinter, not at fast_interval, so a flapping replica flaps slowly', async () => {
    const a = await fake('replica');
    const { p, probes } = prober([null], { ...CHECKS, fast_interval: 20, fastinter: 60_000 });
    p.setTargets([{ name: 'a', api: a.url }]);
    await waitFor(() => (p.records().get('a')?.replica.get('any')?.successes ?? 0) >= 1, { timeoutMs: 5_000, what: 'first /replica success' });
    const rounds = probes.length;
    // In transition (one success of rise 2): fast_interval (20 ms) is not for this, so no round
    // follows within the time 20 rounds at fast_interval would take.
    const more = await new Promise<number>((resolve) => setTimeout(() => resolve(probes.length), 400));
    expect(more).toBe(rounds);
    expect(p.records().get('a')?.replica.get('any')?.up).toBe(false);
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
