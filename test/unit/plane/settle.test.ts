// A reload that needs a new Discovery (its cluster, checks or max_lag changed) switches to it
// only once switching cannot kill what the running one keeps (issue 10, guard): a Discovery
// that knows nothing yet says "no primary", and that view would close every RW session.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { LocalPlane } from '../../../src/plane/local-plane.js';
import { discoverySettled } from '../../../src/plane/view-feed.js';
import { waitFor } from '../../harness/wait.js';
import { FakePatroni } from '../discovery/fake-patroni.js';
import { testConfig } from '../proxy/helpers/config.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { check, member, view } from '../proxy/helpers/view.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('discoverySettled', () => {
  const withReplica = (gen: number, primary: string | null, replicaUp: boolean) =>
    view(gen, [member({ name: 'n1' }), member({ name: 'n2', replica: { any: check(replicaUp) } })], primary);

  it.each([
    ['a Discovery that published nothing yet', false, withReplica(0, 'n1', true), withReplica(5, 'n1', true)],
    ['the same primary and fit replicas', true, withReplica(1, 'n1', true), withReplica(5, 'n1', true)],
    ['no primary where the running one has one (its RW sessions would be killed)', false, withReplica(1, null, true), withReplica(5, 'n1', true)],
    ['another primary than the running one (wait until both saw the change)', false, withReplica(1, 'n2', true), withReplica(5, 'n1', true)],
    ['a primary where the running one has none (nothing to kill, clients to route)', true, withReplica(1, 'n1', true), view(5, [member({ name: 'n1', replica: { any: check(false) } }), member({ name: 'n2' })], null)],
    ['a replica down that the running one has up', false, withReplica(1, 'n1', false), withReplica(5, 'n1', true)],
  ] as const)('says of %s: settled %s', (_what, settled, candidate, incumbent) => {
    expect(discoverySettled(candidate, incumbent)).toBe(settled);
  });
});

async function fixture(): Promise<{ good: FakePatroni; deadUrl: string; backend: FakeBackend; config: (api: string) => Config }> {
  const good = await FakePatroni.start('master');
  const dead = await FakePatroni.start('master');
  const deadUrl = dead.url;
  await dead.close();
  const backend = await FakeBackend.start('n1');
  cleanup.push(() => good.close(), () => backend.close());
  const base = testConfig({ timeouts: { connect_wait: 500, shutdown_grace: 0 } });
  const config = (api: string): Config => ({
    ...base,
    cluster: { ...base.cluster, scope: 'settle-test', members: [{ name: 'n1', host: '127.0.0.1', port: backend.port, api }] },
    checks: { interval: 100, timeout: 300, fall: 1, rise: 1, fast_interval: 50, fastinter: 100, tls: null },
  });
  return { good, deadUrl, backend, config };
}

describe('a reload with a new Discovery (workers: 1)', () => {
  it('is refused when the new Discovery never confirms the running primary, and no RW session is closed', async () => {
    const f = await fixture();
    const plane = new LocalPlane(f.config(f.good.url), silentLogger());
    cleanup.push(() => plane.close({ graceMs: 0 }));
    await plane.start();
    await waitFor(() => plane.discovery.current().primary === 'n1', { timeoutMs: 5_000, what: 'n1 primary' });
    const c = new pg.Client({ host: '127.0.0.1', port: plane.addresses()['rw']?.port, user: 'app', database: 'db' });
    await c.connect();
    cleanup.push(() => c.end().catch(() => undefined));
    const running = plane.discovery;
    const before = plane.config;

    // The operator's typo: n1's REST API on a port nothing listens on.
    const result = await plane.reload(f.config(f.deadUrl));
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining('did not agree') });
    expect(plane.discovery).toBe(running);
    expect(plane.config).toBe(before);
    expect(plane.discovery.current().primary).toBe('n1');
    expect((await c.query<{ backend: string }>('select backend')).rows).toEqual([{ backend: 'n1' }]);
    expect(plane.dataPath.traffic()['rw']?.closed).toEqual({});
  }, 20_000);

  it('switches to a new Discovery that confirms a primary the running one lacks', async () => {
    const f = await fixture();
    const plane = new LocalPlane(f.config(f.deadUrl), silentLogger());
    cleanup.push(() => plane.close({ graceMs: 0 }));
    await plane.start();
    expect(plane.discovery.current().primary).toBeNull();
    const result = await plane.reload(f.config(f.good.url));
    expect(result).toMatchObject({ ok: true });
    await waitFor(() => plane.discovery.current().primary === 'n1', { timeoutMs: 5_000, what: 'n1 primary after the fix' });
  }, 20_000);
});
