import { describe, expect, it } from 'vitest';
import type { ListenerConfig } from '../../../src/config/types.js';
import { planListenerChanges, type ListenerPlan } from '../../../src/proxy/listener-plan.js';
import { listenerConfig } from './helpers/config.js';

const at = (name: string, port: number, over: Partial<ListenerConfig> = {}): ListenerConfig =>
  listenerConfig({ name, bind: { host: '127.0.0.1', port }, ...over });

const rw = at('rw', 6001);
const ro = at('ro', 6002, { role: 'replica' });

const none: ListenerPlan = { added: [], removed: [], changed: [], kept: [], retuned: {}, inherit: {} };

describe('planListenerChanges', () => {
  const table: Array<[string, ListenerConfig[], ListenerConfig[], Partial<ListenerPlan>]> = [
    ['keeps listeners whose name and bind are unchanged', [rw, ro], [rw, ro], { kept: ['rw', 'ro'] }],
    ['adds a listener with a new name', [rw], [rw, ro], { kept: ['rw'], added: ['ro'] }],
    ['removes a listener whose name is gone', [rw, ro], [rw], { kept: ['rw'], removed: ['ro'] }],
    ['calls a new bind under the same name changed (remove + add)', [rw], [at('rw', 6003)], { changed: ['rw'] }],
    ['calls a new host under the same name changed', [rw], [at('rw', 6001, { bind: { host: '0.0.0.0', port: 6001 } })], { changed: ['rw'] }],
    [
      'keeps a listener whose settings changed, and names those settings',
      [ro],
      [at('ro', 6002, { role: 'replica', balance: 'leastconn', maxconn: 10, max_lag: 1024 })],
      { kept: ['ro'], retuned: { ro: ['max_lag', 'balance', 'maxconn'] } },
    ],
    ['lets a renamed listener take over the socket of its old name', [rw], [at('primary', 6001)], { added: ['primary'], removed: ['rw'], inherit: { primary: 'rw' } }],
    [
      'lets a listener take over the bind another one moved away from',
      [rw, ro],
      [at('rw', 6003), at('ro2', 6001, { role: 'replica' }), ro],
      { changed: ['rw'], added: ['ro2'], kept: ['ro'], inherit: { ro2: 'rw' } },
    ],
    ['never matches two port-0 binds: each asks the kernel for a fresh port', [at('a', 0)], [at('b', 0)], { added: ['b'], removed: ['a'] }],
    ['keeps a port-0 listener of the same name (its socket stays)', [at('a', 0)], [at('a', 0)], { kept: ['a'] }],
    ['does not hand a kept listener’s socket to anyone', [rw, ro], [rw, at('x', 6001)], { kept: ['rw'], added: ['x'], removed: ['ro'] }],
  ];

  it.each(table)('%s', (_title, before, after, expected) => {
    expect(planListenerChanges(before, after)).toEqual({ ...none, ...expected });
  });
});
