import { describe, expect, it } from 'vitest';
import type { ListenerConfig } from '../../../src/config/types.js';
import type { ClusterView } from '../../../src/view/cluster-view.js';
import { sessionsToKill, type SessionRef } from '../../../src/routing/kill.js';
import { listenerConfig } from '../proxy/helpers/config.js';
import { check, member, view } from '../proxy/helpers/view.js';

const rw = listenerConfig({ name: 'rw', role: 'primary' });
const ro = listenerConfig({ name: 'ro', role: 'replica', fallback: 'primary' });

const healthy = view(1, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3' })], 'n1');
const switched = view(2, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3' })], 'n2');
const noPrimary = view(3, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3' })], null);
const n3Down = view(4, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3', replica: { any: check(false) } })], 'n1');
const n3Lagging = view(5, [member({ name: 'n1' }), member({ name: 'n2' }), member({ name: 'n3', replica: { any: check(false, { lagging: true }) } })], 'n1');
const n3Gone = view(6, [member({ name: 'n1' }), member({ name: 'n2' })], 'n1');
const n1Gone = view(7, [member({ name: 'n2' }), member({ name: 'n3' })], null);

const s = (id: string, backend: string, viaFallback = false): SessionRef => ({ id, backend, viaFallback });

type Row = [string, ClusterView, ListenerConfig, SessionRef[], Array<{ reason: string; backend: string; ids: string[] }>];

describe('sessionsToKill', () => {
  it.each<Row>([
    ['keeps RW sessions on the primary', healthy, rw, [s('1', 'n1')], []],
    ['kills RW sessions on the former primary after a switchover', switched, rw, [s('1', 'n1'), s('2', 'n1'), s('3', 'n2')], [{ reason: 'not_primary', backend: 'n1', ids: ['1', '2'] }]],
    ['kills RW sessions when no primary is confirmed (fail closed)', noPrimary, rw, [s('1', 'n1')], [{ reason: 'not_primary', backend: 'n1', ids: ['1'] }]],
    ['keeps RO sessions on fit replicas', healthy, ro, [s('1', 'n2'), s('2', 'n3')], []],
    ['kills RO sessions on a replica marked down', n3Down, ro, [s('1', 'n2'), s('2', 'n3')], [{ reason: 'marked_down', backend: 'n3', ids: ['2'] }]],
    ['kills RO sessions on a lagging replica when on_lag is shutdown', n3Lagging, ro, [s('2', 'n3')], [{ reason: 'marked_down', backend: 'n3', ids: ['2'] }]],
    ['keeps RO sessions on a lagging replica when on_lag is drain', n3Lagging, { ...ro, on_lag: 'drain' }, [s('2', 'n3')], []],
    ['drains only lagging replicas: a down one is still killed', n3Down, { ...ro, on_lag: 'drain' }, [s('2', 'n3')], [{ reason: 'marked_down', backend: 'n3', ids: ['2'] }]],
    ['kills RO sessions on a member that left the view', n3Gone, ro, [s('2', 'n3')], [{ reason: 'marked_down', backend: 'n3', ids: ['2'] }]],
    ['kills RO sessions on a replica that was promoted', switched, ro, [s('1', 'n2')], [{ reason: 'marked_down', backend: 'n2', ids: ['1'] }]],
    ['keeps fallback sessions while their backend is still the primary', healthy, ro, [s('1', 'n1', true)], []],
    ['kills fallback sessions once their backend is no longer the primary', switched, ro, [s('1', 'n1', true)], [{ reason: 'not_primary', backend: 'n1', ids: ['1'] }]],
    ['kills fallback sessions whose backend is gone', n1Gone, ro, [s('1', 'n1', true)], [{ reason: 'not_primary', backend: 'n1', ids: ['1'] }]],
    ['kills nothing with on_marked_down keep (RW)', switched, { ...rw, on_marked_down: 'keep' }, [s('1', 'n1')], []],
    ['kills nothing with on_marked_down keep (RO)', n3Down, { ...ro, on_marked_down: 'keep' }, [s('1', 'n3')], []],
  ])('%s', (_what, v, listener, sessions, expected) => {
    expect(sessionsToKill(v, listener, sessions)).toEqual(expected);
  });

  it('groups kills by backend and reason', () => {
    const v = view(9, [member({ name: 'n1' }), member({ name: 'n2', replica: { any: check(false) } }), member({ name: 'n3', replica: { any: check(false) } })], 'n1');
    const batches = sessionsToKill(v, ro, [s('1', 'n2'), s('2', 'n3'), s('3', 'n2')]);
    expect(batches).toEqual([
      { reason: 'marked_down', backend: 'n2', ids: ['1', '3'] },
      { reason: 'marked_down', backend: 'n3', ids: ['2'] },
    ]);
  });
});
