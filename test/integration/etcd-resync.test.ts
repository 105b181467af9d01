// EtcdSource's resync against a real etcd 3.4, with the race of issue 10 (defect 2) forced: a
// range read in flight while a newer watch event arrives. The range result is held back by the
// source's test hook until the event has had every chance to be applied, so the outcome does
// not depend on timing. And its watch's require-leader metadata, against a two-member etcd
// that loses quorum.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdConfig } from '../../src/config/types.js';
import { EtcdSource, type EtcdSnapshot } from '../../src/discovery/etcd-source.js';
import { createLogger } from '../../src/log.js';
import { findFreePort, waitFor } from '../harness/cluster.js';
import { EtcdServer } from '../harness/etcd.js';
import { runAsIdentity } from '../harness/process.js';

const prefix = '/service/resync/';

function etcdConfig(host: string, port: number): EtcdConfig {
  return { hosts: [{ host, port }], protocol: 'http', tls: null, username: null, password: null, dial_timeout: 1_000, resync_interval: 600_000 };
}

describe('EtcdSource resync racing a watch event', () => {
  let server: EtcdServer;
  let dir: string;
  let client: Etcd3;
  const sources: EtcdSource[] = [];

  beforeAll(async () => {
    const runAs = runAsIdentity();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-etcd-resync-'));
    if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
    server = new EtcdServer({ dir: path.join(dir, 'etcd'), clientPort: await findFreePort(), peerPort: await findFreePort(), name: 'pgr-etcd-resync', runAs, log: () => undefined });
    await server.start();
    client = new Etcd3({ hosts: server.clientUrl });
  });

  afterAll(async () => {
    for (const s of sources) await s.close();
    client?.close();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('never lets a range read in flight roll the mirror back over a newer leader event', async () => {
    await client.put(`${prefix}leader`).value('A');
    const snaps: EtcdSnapshot[] = [];
    const last = (): EtcdSnapshot | undefined => snaps[snaps.length - 1];
    let hold: { reached: boolean; release: () => void; watching: boolean } | null = null;
    const source = new EtcdSource({
      etcd: etcdConfig(server.host, server.clientPort),
      prefix,
      log: createLogger({ level: process.env.PGR_TEST_LOG ?? 'silent' }),
      onChange: (snap) => snaps.push(snap),
      afterRangeRead: (info) => {
        const h = hold;
        if (!h) return Promise.resolve();
        h.reached = true;
        h.watching = info.watching;
        return new Promise<void>((resolve) => (h.release = resolve));
      },
    });
    sources.push(source);
    source.start();
    await waitFor(() => last()?.connected === true && last()?.keys.get('leader') === 'A', { timeoutMs: 10_000, what: 'first read' });
    // The watch is up once an event arrives through it.
    await client.put(`${prefix}members/A`).value('{}');
    await waitFor(() => last()?.keys.has('members/A') === true, { timeoutMs: 5_000, what: 'a watch event' });

    // A watchdog resync reads the prefix at revision R (leader A) and is held there...
    const h = { reached: false, release: () => undefined, watching: false };
    hold = h;
    source.requestResync('test');
    await waitFor(() => h.reached, { timeoutMs: 5_000, what: 'the range read to return' });
    hold = null;
    // ...while a switchover writes leader B at R+1.
    await client.put(`${prefix}leader`).value('B');
    // A watch still attached during the read delivers B before the range result is applied:
    // that is the race, so wait for it to happen rather than hope it does.
    if (h.watching) await waitFor(() => last()?.keys.get('leader') === 'B', { timeoutMs: 5_000, what: 'B through the old watch' });
    h.release();
    await waitFor(() => last()?.keys.get('leader') === 'B' && snaps.length > 0, { timeoutMs: 5_000, what: 'B through the new watch' });
    // The next event proves the watch that replaced the old one works.
    await client.put(`${prefix}members/B`).value('{}');
    await waitFor(() => last()?.keys.has('members/B') === true, { timeoutMs: 5_000, what: 'an event after the resync' });

    const leaders = snaps.map((s) => s.keys.get('leader'));
    const firstB = leaders.indexOf('B');
    expect(firstB).toBeGreaterThan(0);
    expect(leaders.slice(firstB)).not.toContain('A');
    const revisions = snaps.map((s) => BigInt(s.revision ?? '0'));
    for (let i = 1; i < revisions.length; i++) expect(revisions[i]! >= revisions[i - 1]!).toBe(true);
  });
});

describe('EtcdSource whose owner throws', () => {
  let dir: string;
  let server: EtcdServer;
  let source: EtcdSource | null = null;

  afterAll(async () => {
    await source?.close();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Issue 10, guard: etcd3 rethrows what a watch handler throws, so a bug in the code a watch
  // event reaches was an uncaught exception: the end of the router process.
  it('reports a throwing change handler and keeps watching', async () => {
    const runAs = runAsIdentity();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-etcd-throw-'));
    if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
    server = new EtcdServer({ dir: path.join(dir, 'etcd'), clientPort: await findFreePort(), peerPort: await findFreePort(), name: 'pgr-etcd-throw', runAs, log: () => undefined });
    await server.start();
    const client = new Etcd3({ hosts: server.clientUrl });
    const snaps: EtcdSnapshot[] = [];
    const errors: string[] = [];
    source = new EtcdSource({
      etcd: etcdConfig(server.host, server.clientPort),
      prefix,
      log: createLogger({ level: process.env.PGR_TEST_LOG ?? 'silent' }),
      onChange: (snap) => {
        snaps.push(snap);
        if (snap.keys.get('leader') === 'bug') throw new Error('bug in the change handler');
      },
      onError: (err) => errors.push(String(err)),
    });
    source.start();
    await waitFor(() => snaps.some((s) => s.connected), { timeoutMs: 10_000, what: 'first read' });
    await client.put(`${prefix}leader`).value('bug');
    await waitFor(() => errors.length > 0, { timeoutMs: 5_000, what: 'the error to be reported' });
    await client.put(`${prefix}leader`).value('C');
    await waitFor(() => snaps[snaps.length - 1]?.keys.get('leader') === 'C', { timeoutMs: 5_000, what: 'the next event' });
    expect(errors[0]).toContain('bug in the change handler');
    client.close();
  });
});

describe('EtcdSource on an etcd member that loses quorum', () => {
  let dir: string;
  const members: EtcdServer[] = [];
  let source: EtcdSource | null = null;

  afterAll(async () => {
    await source?.close();
    for (const m of members) await m.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses its watch within seconds (hasleader), long before the watchdog would re-read', async () => {
    const runAs = runAsIdentity();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgr-etcd-quorum-'));
    if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
    const ports = [await findFreePort(), await findFreePort(), await findFreePort(), await findFreePort()];
    const initialCluster = `q1=http://127.0.0.1:${ports[1]},q2=http://127.0.0.1:${ports[3]}`;
    for (const [i, name] of (['q1', 'q2'] as const).entries()) {
      members.push(new EtcdServer({ dir: path.join(dir, name), clientPort: ports[i * 2]!, peerPort: ports[i * 2 + 1]!, name, runAs, log: () => undefined, initialCluster, token: 'pgr-quorum' }));
    }
    // Each member waits for the other to elect a leader: start both, then wait for both.
    await Promise.all(members.map((m) => m.start(20_000, false)));
    await waitFor(async () => (await members[0]!.healthy().catch(() => false)) && (await members[1]!.healthy().catch(() => false)), { timeoutMs: 20_000, what: 'a two-member etcd' });
    const client = new Etcd3({ hosts: members[0]!.clientUrl });
    await client.put(`${prefix}leader`).value('A');
    const snaps: EtcdSnapshot[] = [];
    const last = (): EtcdSnapshot | undefined => snaps[snaps.length - 1];
    // The watchdog re-reads every 10 minutes: only the watch itself can report the loss in time.
    source = new EtcdSource({
      etcd: { ...etcdConfig(members[0]!.host, members[0]!.clientPort), resync_interval: 600_000 },
      prefix,
      log: createLogger({ level: process.env.PGR_TEST_LOG ?? 'silent' }),
      onChange: (snap) => snaps.push(snap),
    });
    source.start();
    await waitFor(() => last()?.connected === true, { timeoutMs: 10_000, what: 'first read' });
    await client.put(`${prefix}leader`).value('B');
    await waitFor(() => last()?.keys.get('leader') === 'B', { timeoutMs: 5_000, what: 'a watch event' });
    client.close();

    // q1 alone has no quorum, so no leader: a plain watch would stay open and silent.
    await members[1]!.stop();
    await waitFor(() => last()?.connected === false, { timeoutMs: 20_000, what: 'etcd unreachable once q1 has no leader' });
  }, 60_000);
});
