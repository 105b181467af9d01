// The sync and read_only listener roles (issue 13): their defaults and what is refused on them.
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../src/config/load.js';

const ETCD = `cluster:
  scope: postgres
  etcd:
    hosts: [10.0.0.1:2379]
listeners:
`;

function load(listeners: string) {
  return loadConfigText(`${ETCD}${listeners}`, { env: {}, readFile: () => 'unused' });
}

describe('listener roles sync and read_only', () => {
  it('loads them with max_lag, balance and on_lag, falling back to the primary by default on sync only', () => {
    const r = load(`  - { name: s, bind: ":6000", role: sync, max_lag: 1MB, balance: leastconn, on_lag: shutdown }
  - { name: r, bind: ":6001", role: read_only, max_lag: 16MB }
  - { name: t, bind: ":6002", role: sync, fallback: none, on_marked_down: keep }
`);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.config.listeners.map((l) => [l.name, l.role, l.fallback, l.max_lag, l.balance, l.on_lag, l.on_marked_down])).toEqual([
      ['s', 'sync', 'primary', 1_048_576, 'leastconn', 'shutdown', 'shutdown'],
      ['r', 'read_only', 'none', 16_777_216, 'roundrobin', 'drain', 'shutdown'],
      ['t', 'sync', 'none', null, 'roundrobin', 'drain', 'keep'],
    ]);
  });

  it('refuses fallback: primary on a read_only listener, whose backends include the primary already', () => {
    const r = load(`  - { name: r, bind: ":6001", role: read_only, fallback: primary }\n`);
    expect(r.ok ? [] : r.issues).toEqual([
      { path: 'listeners[0].fallback', line: 6, message: 'fallback: primary does not apply to read_only listeners (the primary is one of their backends)' },
    ]);
  });
});

describe('on_switchover', () => {
  it('defaults to hold on a primary listener and takes route', () => {
    const r = load(`  - { name: a, bind: ":6000", role: primary }\n  - { name: b, bind: ":6001", role: primary, on_switchover: route }\n`);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.config.listeners.map((l) => l.on_switchover)).toEqual(['hold', 'route']);
  });

  it('is refused on a listener that never routes to the outgoing leader as its primary', () => {
    const r = load(`  - { name: r, bind: ":6001", role: replica, on_switchover: route }\n`);
    expect(r.ok ? [] : r.issues).toEqual([{ path: 'listeners[0].on_switchover', line: 6, message: 'only applies to primary listeners' }]);
  });
});
