import { describe, expect, it } from 'vitest';
import type { KillReason } from '../../../src/routing/kill.js';
import { SessionRegistry, type SessionRecord } from '../../../src/sessions/registry.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { check, member, view } from '../proxy/helpers/view.js';
import { silentLogger } from '../../../src/log.js';
import { captureLog } from '../../helpers/capture-log.js';

const listeners = [listenerConfig({ name: 'rw', role: 'primary' }), listenerConfig({ name: 'ro', role: 'replica' })];

function record(id: string, listener: string, backend: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return { id, listener, backend, backendHost: '10.0.0.1', backendPort: 5432, viaFallback: false, clientAddress: '1.2.3.4:5', startedAt: 0, linkId: null, bytesIn: 0, bytesOut: 0, relayBytes: null, cancelKey: null, clientKey: null, ...extra };
}


describe('SessionRegistry', () => {
  it('finds the exact backend of a learned cancel key, on any listener', () => {
    const r = new SessionRegistry({ listeners, logger: silentLogger() });
    const rec = record('1', 'ro', 'n2', { backendHost: '10.0.0.2', backendPort: 5442 });
    r.add(rec, () => undefined);
    expect(r.findByCancelKey(77, Buffer.from([1, 2, 3, 4]))).toBeNull();
    r.setCancelKey(rec, { pid: 77, key: Buffer.from([1, 2, 3, 4]) });
    expect(r.findByCancelKey(77, Buffer.from([1, 2, 3, 4]))).toMatchObject({ backendHost: '10.0.0.2', backendPort: 5442 });
    expect(r.findByCancelKey(77, Buffer.from([1, 2, 3, 5]))).toBeNull();
    r.remove(rec);
    expect(r.findByCancelKey(77, Buffer.from([1, 2, 3, 4]))).toBeNull();
  });

  it('counts sessions per listener and backend for leastconn, and forgets removed ones', () => {
    const r = new SessionRegistry({ listeners, logger: silentLogger() });
    const first = record('1', 'ro', 'n2');
    r.add(first, () => undefined);
    r.add(record('2', 'ro', 'n2'), () => undefined);
    r.add(record('3', 'rw', 'n1'), () => undefined);
    expect(r.sessionsOn('ro', 'n2')).toBe(2);
    expect(r.sessionsOn('ro', 'n3')).toBe(0);
    expect(r.count()).toBe(3);
    r.remove(first);
    r.remove(first);
    expect(r.sessionsOn('ro', 'n2')).toBe(1);
    expect([r.count(), r.count('ro'), r.sessionsOn('rw', 'n1')]).toEqual([2, 1, 1]);
  });

  it('kills the sessions a view condemns, at once, with one log line per batch by reason', () => {
    const { logger, lines } = captureLog();
    const r = new SessionRegistry({ listeners, logger });
    const killed: Array<[string, KillReason]> = [];
    const add = (rec: SessionRecord): void => r.add(rec, (reason) => killed.push([rec.id, reason]));
    add(record('1', 'rw', 'n1'));
    add(record('2', 'rw', 'n1'));
    add(record('3', 'rw', 'n2'));
    add(record('4', 'ro', 'n3'));
    add(record('5', 'ro', 'n2'));

    const n = r.applyView(view(2, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3', replica: { any: check(false) } })], 'n2'));

    expect(n).toBe(4);
    expect(killed.sort()).toEqual([
      ['1', 'not_primary'],
      ['2', 'not_primary'],
      ['4', 'marked_down'],
      ['5', 'marked_down'],
    ]);
    expect(r.count()).toBe(1);
    const batches = lines.filter((l) => l['event'] === 'sessions_killed').map((l) => ({ listener: l['listener'], backend: l['backend'], reason: l['reason'], count: l['count'] }));
    batches.sort((x, y) => `${String(x.listener)}${String(x.backend)}`.localeCompare(`${String(y.listener)}${String(y.backend)}`));
    expect(batches).toEqual([
      { listener: 'ro', backend: 'n2', reason: 'marked_down', count: 1 },
      { listener: 'ro', backend: 'n3', reason: 'marked_down', count: 1 },
      { listener: 'rw', backend: 'n1', reason: 'not_primary', count: 2 },
    ]);
  });

  it('unregisters a session before killing it, so a re-registration under the same id survives', () => {
    const r = new SessionRegistry({ listeners, logger: silentLogger() });
    r.add(record('1', 'rw', 'n1'), () => r.add(record('1', 'rw', 'n2'), () => undefined));
    r.applyView(view(2, [member({ name: 'n1' }), member({ name: 'n2' })], 'n2'));
    expect(r.list().map((x) => x.backend)).toEqual(['n2']);
  });

  it('keeps killing the other sessions when one kill throws', () => {
    const r = new SessionRegistry({ listeners, logger: silentLogger() });
    const killed: string[] = [];
    r.add(record('1', 'rw', 'n1'), () => {
      throw new Error('boom');
    });
    r.add(record('2', 'rw', 'n1'), () => killed.push('2'));
    expect(r.applyView(view(2, [member({ name: 'n2' })], 'n2'))).toBe(2);
    expect(killed).toEqual(['2']);
  });

  it('kills every session on one backend, on all listeners, with reason admin, and leaves the others', () => {
    const { logger, lines } = captureLog();
    const r = new SessionRegistry({ listeners, logger });
    const killed: Array<[string, KillReason]> = [];
    const add = (rec: SessionRecord): void => r.add(rec, (reason) => killed.push([rec.id, reason]));
    add(record('1', 'rw', 'n1'));
    add(record('2', 'ro', 'n1', { viaFallback: true }));
    add(record('3', 'ro', 'n2'));
    expect(r.killBackend('n1', 'admin')).toBe(2);
    expect(killed.sort()).toEqual([
      ['1', 'admin'],
      ['2', 'admin'],
    ]);
    expect(r.list().map((x) => x.id)).toEqual(['3']);
    expect(lines.filter((l) => l['event'] === 'sessions_killed').map((l) => [l['listener'], l['count']]).sort()).toEqual([
      ['ro', 1],
      ['rw', 1],
    ]);
    expect(r.killBackend('n9', 'admin')).toBe(0);
  });
});
