import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/types.js';
import { Discovery } from '../../../src/discovery/discovery.js';
import type { ClusterView } from '../../../src/view/cluster-view.js';
import { waitFor } from '../../harness/wait.js';
import { FakePatroni } from './fake-patroni.js';
import { captureLog } from '../../helpers/capture-log.js';

function config(members: { name: string; api: string }[], checks?: Config['checks']): Config {
  return {
    cluster: {
      scope: 'static-test',
      namespace: '/service/',
      etcd: null,
      members: members.map((m, i) => ({ name: m.name, host: '127.0.0.1', port: 15432 + i, api: m.api })),
      on_etcd_loss: 'follow_probes',
    },
    checks: checks ?? { interval: 50, timeout: 500, fall: 2, rise: 2, fast_interval: 20, fastinter: 20, tls: null },
    listeners: [
      { name: 'rw', bind: { host: '127.0.0.1', port: 0 }, role: 'primary', max_lag: null, balance: 'roundrobin', fallback: 'none', ssl: 'passthrough', tls: null, server_tls: { mode: 'disable', ca: null, cert: null, key: null }, maxconn: 0, on_marked_down: 'shutdown', on_lag: 'drain', on_switchover: 'hold', proxy_protocol: null, allow: null },
      { name: 'ro', bind: { host: '127.0.0.1', port: 0 }, role: 'replica', max_lag: 1048576, balance: 'roundrobin', fallback: 'primary', ssl: 'passthrough', tls: null, server_tls: { mode: 'disable', ca: null, cert: null, key: null }, maxconn: 0, on_marked_down: 'shutdown', on_lag: 'drain', on_switchover: 'hold', proxy_protocol: null, allow: null },
    ],
    timeouts: { connect: 1000, client: 0, server: 0, startup: 1000, connect_wait: 1000, queue: 1000, keepalive: 60_000, shutdown_grace: 1000, server_hello: 1000, reload_drain: 300_000 },
    http: { bind: { host: '127.0.0.1', port: 0 }, stats_refresh: 10_000, ready: 'primary' },
    admin: { bind: { host: '127.0.0.1', port: 0 }, token: null, quitquitquit: false },
    log: { level: 'info', format: 'json' },
    workers: 1,
    cancel: { max_inflight: 64, max_inflight_per_client: 8, rewrite_keys: false, instance_id: 0, peers: [] },
    relay: 'auto',
  };
}


let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('Discovery in static mode', () => {
  it('publishes the member answering /primary after rise, and follows it when another takes over', async () => {
    const [a, b] = [await FakePatroni.start('master'), await FakePatroni.start('replica')];
    cleanup.push(() => a.close(), () => b.close());
    const { logger, lines } = captureLog();
    const d = new Discovery({ config: config([{ name: 'a', api: a.url }, { name: 'b', api: b.url }]), logger });
    cleanup.push(() => d.close());
    const seen: ClusterView[] = [];
    const unsubscribe = d.subscribe((v) => seen.push(v));
    expect(d.current().generation).toBe(0);
    await d.start();
    await waitFor(() => d.current().primary === 'a', { timeoutMs: 5_000, what: 'a to be primary' });
    const v = d.current();
    expect(v.mode).toBe('static');
    expect(v.members.map((m) => [m.name, m.role, Object.keys(m.replica_checks)])).toEqual([
      ['a', 'primary', ['1048576']],
      ['b', 'replica', ['1048576']],
    ]);

    b.role = 'master';
    a.role = 'replica';
    await waitFor(() => d.current().primary === 'b', { timeoutMs: 5_000, what: 'b to be primary' });

    // Generations strictly increase, and no two consecutive views carry the same content.
    const gens = seen.map((x) => x.generation);
    expect(gens).toEqual([...gens].sort((x, y) => x - y));
    expect(new Set(gens).size).toBe(gens.length);
    const changes = lines.filter((l) => l.event === 'leader_change').map((l) => [l.from, l.to]);
    expect(changes).toEqual([[null, 'a'], ['a', null], [null, 'b']]);
    expect(d.timeline().filter((t) => t.kind === 'primary').map((t) => t.to)).toEqual(['a', null, 'b']);
    expect(lines.some((l) => l.event === 'member_up' && l.member === 'b' && l.check === 'primary')).toBe(true);
    expect(lines.some((l) => l.event === 'member_down' && l.member === 'a' && l.check === 'primary')).toBe(true);

    // Steady probes every 50 ms do not produce new views.
    const before = d.current().generation;
    const probesBefore = a.paths.length;
    await waitFor(() => a.paths.length >= probesBefore + 6, { timeoutMs: 5_000, what: 'a few more probe rounds' });
    expect(d.current().generation).toBe(before);

    unsubscribe();
    const count = seen.length;
    a.role = 'master';
    b.role = 'replica';
    await waitFor(() => d.current().primary === 'a', { timeoutMs: 5_000, what: 'a to be primary again' });
    expect(seen).toHaveLength(count);
  });

  it('refuses to pick when two members answer /primary, and keeps a throwing subscriber from breaking others', async () => {
    const [a, b] = [await FakePatroni.start('master'), await FakePatroni.start('master')];
    cleanup.push(() => a.close(), () => b.close());
    const { logger, lines } = captureLog();
    const d = new Discovery({ config: config([{ name: 'a', api: a.url }, { name: 'b', api: b.url }]), logger });
    cleanup.push(() => d.close());
    d.subscribe(() => {
      throw new Error('boom');
    });
    const views: ClusterView[] = [];
    d.subscribe((v) => views.push(v));
    await d.start();
    await waitFor(() => d.current().members.every((m) => m.primary_check.up), { timeoutMs: 5_000, what: 'both up on /primary' });
    expect(d.current().primary).toBeNull();
    expect(d.current().primary_reason).toBe('static members: a, b are all up on /primary, refusing to guess');
    expect(views.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.event === 'view_listener_failed')).toBe(true);
  });

  // Issue 10, defect 1: a 0.4 s REST outage used to remove the primary for about 3 s, because
  // fall was counted at fast_interval (100 ms): every RW session was killed.
  it('keeps the primary through a 0.5 s REST outage with the default checks (fall 3, interval 3 s, fastinter = interval)', async () => {
    const [a, b] = [await FakePatroni.start('master'), await FakePatroni.start('replica')];
    cleanup.push(() => a.close(), () => b.close());
    const { logger } = captureLog();
    const checks = { interval: 3_000, timeout: 1_000, fall: 3, rise: 2, fast_interval: 100, fastinter: 3_000, tls: null };
    const d = new Discovery({ config: config([{ name: 'a', api: a.url }, { name: 'b', api: b.url }], checks), logger });
    cleanup.push(() => d.close());
    await d.start();
    // rise 2 at fastinter: confirmed after one interval.
    await waitFor(() => d.current().primary === 'a', { timeoutMs: 10_000, what: 'a to be primary' });
    const views: ClusterView[] = [];
    d.subscribe((v) => views.push(v));
    const probedAt = a.paths.length;
    await a.pause();
    // The outage begins just before a probe: wait for that probe to have hit the dead port.
    await waitFor(() => d.current().members.find((m) => m.name === 'a')?.primary_check.lastOk === false, { timeoutMs: 10_000, what: 'a failed probe of a' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await a.resume();
    await waitFor(() => a.paths.length > probedAt, { timeoutMs: 10_000, what: 'a probe of a after the outage' });
    await waitFor(() => d.current().members.find((m) => m.name === 'a')?.primary_check.lastOk === true, { timeoutMs: 10_000, what: 'a healthy again' });
    expect(views.map((v) => v.primary)).not.toContain(null);
    expect(d.current().primary).toBe('a');
  }, 30_000);

  // Issue 10, guard: the prober's loop had a promise without a catch. A throwing hook (here the
  // metrics' probe observer) became an unhandled rejection, which ends a Node 20 process, and
  // the member was never probed again.
  it('keeps probing and deriving views when a probe hook throws, and logs and counts it with its code', async () => {
    const [a, b] = [await FakePatroni.start('master'), await FakePatroni.start('replica')];
    cleanup.push(() => a.close(), () => b.close());
    const { logger, lines } = captureLog();
    const errors: string[] = [];
    const d = new Discovery({
      config: config([{ name: 'a', api: a.url }, { name: 'b', api: b.url }]),
      logger,
      onProbe: () => {
        throw Object.assign(new Error('bug in a probe observer'), { code: 'ERR_TEST_BUG' });
      },
      onCallbackError: (where) => errors.push(where),
    });
    cleanup.push(() => d.close());
    await d.start();
    // rise 2 needs a second round: only a loop that survived the first throw gets there.
    await waitFor(() => d.current().primary === 'a', { timeoutMs: 5_000, what: 'a to be primary despite the throwing hook' });
    const probed = a.paths.length;
    await waitFor(() => a.paths.length >= probed + 3, { timeoutMs: 5_000, what: 'the probe loop to go on' });
    const line = lines.find((l) => l.event === 'discovery_callback_failed');
    expect(line).toMatchObject({ where: 'probe_hook', code: 'ERR_TEST_BUG' });
    expect(errors.length).toBeGreaterThan(2);
    expect(new Set(errors)).toEqual(new Set(['probe_hook']));
  });

  it('keeps the last good view when deriving a view throws', async () => {
    const a = await FakePatroni.start('master');
    cleanup.push(() => a.close());
    const { logger, lines } = captureLog();
    const errors: string[] = [];
    const d = new Discovery({ config: config([{ name: 'a', api: a.url }]), logger, onCallbackError: (where) => errors.push(where) });
    cleanup.push(() => d.close());
    await d.start();
    await waitFor(() => d.current().primary === 'a', { timeoutMs: 5_000, what: 'a to be primary' });
    const good = d.current();
    // A bug in the derivation: the clock it reads throws (Discovery takes `now` from outside).
    (d as unknown as { now: () => number }).now = () => {
      throw new Error('bug in the derivation');
    };
    const probed = a.paths.length;
    await waitFor(() => a.paths.length >= probed + 3 && errors.length >= 3, { timeoutMs: 5_000, what: 'probes and ticks that fail to derive' });
    expect(d.current()).toBe(good);
    expect(lines.some((l) => l.event === 'discovery_callback_failed' && l.error === 'bug in the derivation')).toBe(true);
  });
});
