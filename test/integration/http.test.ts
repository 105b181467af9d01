// The HTTP surface (stats page, health probes, admin API) of a real Router in front of a real
// cluster: etcd 3.4 + 3 × Patroni 3.0.2 / PostgreSQL 15, and the stats page in headless
// Debian Chromium (playwright-core drives /usr/bin/chromium; no browser is downloaded).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Router } from '../../src/router/router.js';
import type { Config } from '../../src/config/types.js';
import { HttpServer } from '../../src/http/server.js';
import type { StatsSnapshot } from '../../src/http/types.js';
import { silentLogger } from '../../src/log.js';
import { findFreePort, LocalCluster, waitFor } from '../harness/cluster.js';
import { freeRouterPorts, pgClient, portOf, routerConfig, startRouter, whereAmI, type RouterPorts } from './router-fixture.js';

const TOKEN = 'integration-admin-token-0123456789';
// The README's screenshot is refreshed only on request (PGROUTER_SCREENSHOT=1), so a test run
// leaves the tree clean; otherwise it goes to a temp file, which still proves the page renders.
const SCREENSHOT = process.env.PGROUTER_SCREENSHOT === '1'
  ? fileURLToPath(new URL('../../docs/stats.png', import.meta.url))
  : path.join(os.tmpdir(), `pgrouter-stats-${process.pid}.png`);
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the HTTP surface of a router in front of a real Patroni cluster', () => {
  let cluster: LocalCluster;
  let router: Router;
  let http: HttpServer;
  let ports: RouterPorts;
  let base: string;
  let adminBase: string;

  const snapshot = async (): Promise<StatsSnapshot> => (await fetch(`${base}/stats.json`)).json() as Promise<StatsSnapshot>;
  const status = async (url: string): Promise<number> => (await fetch(url)).status;
  const admin = (route: string, init: { method?: string; token?: string | null; body?: unknown } = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    const token = init.token === undefined ? TOKEN : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${adminBase}${route}`, { method: init.method ?? 'GET', headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
  };
  /** Both replicas fit on ro and the router's primary is the cluster's leader. */
  const routerSettled = async (): Promise<string> => {
    const leader = await cluster.leader();
    await waitFor(
      async () => {
        const s = await snapshot();
        const ro = s.listeners.find((l) => l.name === 'ro');
        const fit = ro?.backends.filter((b) => b.state === 'UP' && b.name !== s.primary).length ?? 0;
        return s.primary === leader && fit === 2;
      },
      { timeoutMs: 30_000, what: `router to confirm ${leader} and see two fit replicas` },
    );
    return leader;
  };

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    ports = await freeRouterPorts();
    const config: Config = {
      ...routerConfig(cluster, ports),
      admin: { bind: { host: '127.0.0.1', port: await findFreePort() }, token: TOKEN, quitquitquit: false },
    };
    router = await startRouter(config);
    http = new HttpServer({ config, control: router, logger: silentLogger() });
    await http.start();
    const a = http.addresses();
    base = `http://127.0.0.1:${a.http.port}`;
    adminBase = `http://127.0.0.1:${a.admin?.port ?? 0}`;
    await routerSettled();
  });

  afterAll(async () => {
    await http?.close();
    await router?.close({ graceMs: 0 });
    await cluster?.stop();
  });

  it('refuses the admin API without a token or with a wrong one, and with the right one drains a replica out of RO routing and back', async () => {
    const leader = await routerSettled();
    const missing = await admin('/admin/backends', { token: null });
    expect([missing.status, missing.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="pgrouter admin"']);
    const wrong = await admin('/admin/backends/node2/state', { method: 'POST', token: 'not-the-token-0123456789', body: { state: 'maint' } });
    expect(wrong.status).toBe(401);
    expect(await (await admin('/admin/backends')).json()).toEqual({ backends: { node1: 'ready', node2: 'ready', node3: 'ready' }, drain_deadlines: {} });

    const [drained, other] = cluster.nodes.filter((n) => n.name !== leader).map((n) => n.name) as [string, string];
    const drain = await admin(`/admin/backends/${drained}/state`, { method: 'POST', body: { state: 'drain' } });
    expect([drain.status, await drain.json()]).toEqual([200, { member: drained, state: 'drain', previous: 'ready', deadline_at: null }]);
    const row = (await snapshot()).listeners.find((l) => l.name === 'ro')?.backends.find((b) => b.name === drained);
    expect([row?.state, row?.admin_state]).toEqual(['DRAIN', 'drain']);

    const landed = new Set<number>();
    for (let i = 0; i < 6; i++) landed.add((await whereAmI(ports.ro)).serverPort);
    expect([...landed]).toEqual([portOf(cluster, other)]);

    const ready = await admin(`/admin/backends/${drained}/state`, { method: 'POST', body: { state: 'ready' } });
    expect([ready.status, await ready.json()]).toEqual([200, { member: drained, state: 'ready', previous: 'drain', deadline_at: null }]);
    const again = new Set<number>();
    await waitFor(async () => again.add((await whereAmI(ports.ro)).serverPort).size === 2, { timeoutMs: 10_000, what: 'RO sessions on both replicas again' });
    expect([...again].sort()).toEqual([portOf(cluster, drained), portOf(cluster, other)].sort());
  });

  it('shows the leader on the stats page in Chromium, and the new leader after a switchover; saves a screenshot', async () => {
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-chromium-'));
    let browser: BrowserContext | undefined;
    const held: Array<Awaited<ReturnType<typeof pgClient>>> = [];
    try {
      browser = await chromium.launchPersistentContext(userDataDir, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1440, height: 900 },
      });
      const page = await browser.newPage();
      const oldLeader = await routerSettled();
      await page.goto(`${base}/stats?refresh=0`);
      expect(await upOn(page, 'rw')).toEqual([oldLeader]);
      expect(await page.locator('table.summary .badge.ok').first().textContent()).toBe(oldLeader);

      const { to } = await cluster.switchover();
      await waitFor(async () => (await snapshot()).primary === to, { timeoutMs: 30_000, what: `router to confirm ${to}` });
      await page.reload();
      expect(await upOn(page, 'rw')).toEqual([to]);
      expect(await page.locator('table.history tbody tr').first().textContent()).toContain(`→ ${to}`);

      // A page worth looking at: a few live sessions on both listeners, one replica drained.
      await routerSettled();
      for (let i = 0; i < 3; i++) held.push(await pgClient(ports.rw), await pgClient(ports.ro));
      await Promise.all(held.map((c) => c.query('select 1')));
      const replica = cluster.nodes.find((n) => n.name !== to && n.name !== oldLeader)?.name ?? '';
      expect((await admin(`/admin/backends/${replica}/state`, { method: 'POST', body: { state: 'drain' } })).status).toBe(200);
      await page.goto(`${base}/stats`);
      expect(await page.locator(`table.backends[data-listener="ro"] tr.st-DRAIN td:first-child`).textContent()).toBe(replica);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
      expect((await admin(`/admin/backends/${replica}/state`, { method: 'POST', body: { state: 'ready' } })).status).toBe(200);
    } finally {
      await Promise.all(held.map((c) => c.end()));
      await browser?.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    }
  });

  it('turns /health/rw and /ready to 503 while there is no primary, and back to 200 once there is one', async () => {
    const leader = await routerSettled();
    expect(await status(`${base}/health/rw`)).toBe(200);
    expect(await status(`${base}/ready`)).toBe(200);
    // Paused, Patroni does not fail over: the crashed leader's key expires and nobody takes it.
    await cluster.pause();
    await cluster.crash(leader);
    await waitFor(async () => (await status(`${base}/health/rw`)) === 503, { timeoutMs: 40_000, what: '/health/rw to answer 503' });
    expect(await status(`${base}/ready`)).toBe(503);
    expect(await status(`${base}/health/ro`)).toBe(200);
    expect(await status(`${base}/health`)).toBe(200);
    expect((await snapshot()).primary).toBeNull();

    await cluster.resume();
    await cluster.restart(leader);
    await cluster.waitForHealthy();
    await waitFor(async () => (await status(`${base}/health/rw`)) === 200, { timeoutMs: 40_000, what: '/health/rw to answer 200 again' });
    expect(await status(`${base}/ready`)).toBe(200);
    const s = await snapshot();
    expect(s.leader_history[0]?.to).toBe(s.primary);
    expect(s.leader_history[0]?.outage_ms).toBeGreaterThan(0);
    // Its own waits (pause, the key's expiry, resume, restart, two 40 s bounds) exceed the default 60 s.
  }, 150_000);
});

/** Names of the UP backends in one listener's table of the stats page. */
async function upOn(page: Page, listener: string): Promise<string[]> {
  return page.locator(`table.backends[data-listener="${listener}"] tr.st-UP td:first-child`).allTextContents();
}
