import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describePlan, planReload, readForReload, reloadFromFile, type Reloadable } from '../../../src/plane/reload.js';
import { loadConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import { captureLog } from '../../helpers/capture-log.js';

const BASE = `cluster: { scope: s, members: [{ name: n1, host: 127.0.0.1 }] }
listeners:
  - { name: rw, bind: "127.0.0.1:7001", role: primary }
  - { name: ro, bind: "127.0.0.1:7002", role: replica, max_lag: 1MB }
http: { bind: "127.0.0.1:7003" }
`;

function load(text: string): Config {
  const r = loadConfigText(text, { env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}


function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'pgr-reload-')), 'pgrouter.yaml');
  writeFileSync(path, text);
  return path;
}

describe('reload plan', () => {
  it('names added, removed and changed listeners and starts a new worker generation for them', () => {
    const next = load(BASE.replace('role: replica, max_lag: 1MB }', 'role: replica, max_lag: 1MB, balance: leastconn }') + 'workers: 2\n').listeners;
    const plan = planReload(load(BASE), { ...load(BASE + 'workers: 2\n'), listeners: [...next.filter((l) => l.name !== 'rw'), { ...next[0]!, name: 'rw2' }] });
    expect(plan).toMatchObject({ listenersAdded: ['rw2'], listenersRemoved: ['rw'], listenersChanged: ['ro'], discovery: false, dataPath: true, surface: [] });
    expect(describePlan(plan)).toBe('listeners added: rw2; listeners removed: rw; listeners changed: ro; data path updated; kept until a restart: workers');
  });

  it('says a change of workers waits for a restart instead of restarting the data path with the old count', () => {
    const plan = planReload(load(BASE), load(BASE + 'workers: 2\n'));
    expect(plan).toMatchObject({ dataPath: false, discovery: false, restartNeeded: ['workers'] });
  });

  it('restarts discovery, not necessarily the workers, when checks change', () => {
    const plan = planReload(load(BASE), load(BASE + 'checks: { interval: 1s }\n'));
    expect(plan).toMatchObject({ discovery: true, dataPath: false });
  });

  it('leaves workers and discovery alone when only the HTTP surface or logging changed', () => {
    const plan = planReload(load(BASE), load(BASE.replace('7003', '7004') + 'log: { level: debug }\n'));
    expect(plan).toMatchObject({ discovery: false, dataPath: false, surface: ['http', 'log'], restartNeeded: ['http.bind', 'log'] });
    expect(describePlan(plan)).toBe('changed: http, log; kept until a restart: http.bind, log');
    // Read per request by the routes: applied at once, no restart.
    expect(planReload(load(BASE), load(BASE.replace('"127.0.0.1:7003" }', '"127.0.0.1:7003", ready: any, stats_refresh: 3s }'))).restartNeeded).toEqual([]);
    expect(describePlan(planReload(load(BASE), load(BASE)))).toBe('nothing changed');
  });
});

describe('SIGHUP reload from the file', () => {
  it('keeps the running config and logs every issue with its key and line when the file is invalid', async () => {
    const { logger, lines } = captureLog();
    const path = file(BASE.replace('"127.0.0.1:7001"', '"127.0.0.1:99999"') + 'timeouts: { conect: 1s }\nworkers: many\n');
    let applied = 0;
    const target: Reloadable = { config: load(BASE), reload: () => (applied++, Promise.resolve({ ok: true })) };
    const outcome = await reloadFromFile(target, path, {}, logger);
    expect(outcome).toMatchObject({ ok: false, reason: 'invalid' });
    expect(applied).toBe(0);
    const issues = lines.filter((l) => l['event'] === 'reload_config_issue').map((l) => [l['path'], l['line']]);
    expect(issues).toEqual([
      ['listeners[0].bind', 3],
      ['timeouts.conect', 6],
      ['workers', 7],
    ]);
    expect(lines.find((l) => l['event'] === 'reload_config_issue' && l['path'] === 'workers')?.['msg']).toBe(`${path}:7: workers: expected a number of processes from 1 to 256, or auto, got "many"`);
    expect(lines.find((l) => l['event'] === 'reload_rejected')).toMatchObject({ level: 50, issues: 3 });
  });

  it('applies a valid file and logs what changed', async () => {
    const { logger, lines } = captureLog();
    const seen: Config[] = [];
    const target: Reloadable = { config: load(BASE), reload: (c) => (seen.push(c), Promise.resolve({ ok: true })) };
    const outcome = await reloadFromFile(target, file(BASE.replace('http:', '  - { name: ro2, bind: "127.0.0.1:7005", role: replica }\nhttp:')), {}, logger);
    expect(outcome.ok).toBe(true);
    expect(seen).toHaveLength(1);
    expect(lines.find((l) => l['event'] === 'reload_done')?.['changes']).toBe('listeners added: ro2; discovery restarted; data path updated');
  });

  it('reports a failed apply and a missing file without throwing', async () => {
    const { logger } = captureLog();
    const failing: Reloadable = { config: load(BASE), reload: () => Promise.reject(new Error('port 7005 in use')) };
    expect(await reloadFromFile(failing, file(BASE), {}, logger)).toEqual({ ok: false, reason: 'apply_failed', error: 'port 7005 in use' });
    const missing = readForReload('/nonexistent/pgrouter.yaml', {}, load(BASE), logger);
    expect(missing.ok).toBe(false);
  });
});
