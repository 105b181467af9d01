// config.relay (issue 12): auto takes the native relay where the addon loads and falls back to
// JS with one warning naming why; native fails the start without it; js never loads it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureLog } from '../../helpers/capture-log.js';
import { testConfig } from '../proxy/helpers/config.js';

const ADDON_ENV = 'PGROUTER_RELAY_ADDON';
const previous = process.env[ADDON_ENV];

/** Fresh modules that cannot load the addon (as on another OS, or after a failed build). */
async function withoutAddon(): Promise<{ DataPath: typeof import('../../../src/proxy/data-path.js').DataPath }> {
  vi.resetModules();
  process.env[ADDON_ENV] = '/nonexistent/pgrouter_relay.node';
  return import('../../../src/proxy/data-path.js');
}

afterEach(() => {
  if (previous === undefined) delete process.env[ADDON_ENV];
  else process.env[ADDON_ENV] = previous;
  vi.resetModules();
});

describe('relay: auto | native | js', () => {
  it('falls back to the JS relay under auto when the addon does not load, with one warning that says why', async () => {
    const { DataPath } = await withoutAddon();
    const logs = captureLog();
    const dp = new DataPath({ config: testConfig({ relay: 'auto' }), logger: logs.logger });
    await dp.start();
    expect(dp.relay.report()).toEqual({ engine: 'js', native_sessions: 0, js_fallbacks: {} });
    const lines = logs.lines.filter((l) => l['event'] === 'relay_engine');
    expect(lines).toEqual([expect.objectContaining({ level: 40, engine: 'js', mode: 'auto' })]);
    expect(String(lines[0]?.['msg'])).toContain('cannot load the native relay /nonexistent/pgrouter_relay.node');
    await dp.close({ graceMs: 0 });
  });

  it('fails the start under native when the addon does not load (PGR_ERR_RELAY_UNAVAILABLE), before binding anything', async () => {
    const { DataPath } = await withoutAddon();
    const dp = new DataPath({ config: testConfig({ relay: 'native' }), logger: captureLog().logger });
    await expect(dp.start()).rejects.toMatchObject({ code: 'PGR_ERR_RELAY_UNAVAILABLE' });
    expect(dp.addresses()['rw']?.port).toBe(0);
  });

  it('relays in JS under js, and logs the engine at start', async () => {
    const { DataPath } = await import('../../../src/proxy/data-path.js');
    const logs = captureLog();
    const dp = new DataPath({ config: testConfig({ relay: 'js' }), logger: logs.logger });
    await dp.start();
    expect(dp.relay.report().engine).toBe('js');
    expect(logs.lines.filter((l) => l['event'] === 'relay_engine')).toEqual([expect.objectContaining({ level: 30, engine: 'js', mode: 'js' })]);
    await dp.close({ graceMs: 0 });
  });
});
