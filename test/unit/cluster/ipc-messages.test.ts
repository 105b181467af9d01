import { describe, expect, it } from 'vitest';
import { envelope, IPC_VERSION, parseToPrimary, parseToWorker } from '../../../src/cluster/ipc-messages.js';
import { emptyView } from '../../../src/view/cluster-view.js';

const key4 = Buffer.from([1, 2, 3, 4]).toString('base64');

describe('IPC messages', () => {
  it('accepts every message a worker sends', () => {
    const bodies = [
      { type: 'hello', pid: 123 },
      { type: 'ready', addresses: { rw: { host: '127.0.0.1', port: 5432 } } },
      { type: 'start_failed', error: 'EADDRINUSE', code: 'PGR_ERR_BIND' },
      { type: 'cancel_key', pid: 4_000_000_000, key: key4, backendHost: '10.0.0.1', backendPort: 5442, sessionId: '17' },
      { type: 'cancel_key_gone', pid: 1, key: Buffer.alloc(256, 7).toString('base64') },
      { type: 'cancel_lookup', requestId: 9, pid: 1, key: key4 },
      { type: 'reply', requestId: 9, ok: true, data: { anything: [1, 2] } },
      { type: 'reply', requestId: 9, ok: false, error: 'boom' },
    ] as const;
    for (const b of bodies) expect(parseToPrimary(envelope(b)), b.type).toEqual({ kind: 'message', message: { pgr: IPC_VERSION, ...b } });
  });

  it('accepts every message the primary sends', () => {
    const view = emptyView('s', 'etcd');
    const bodies = [
      { type: 'init', generation: 2, config: { listeners: [] }, view, admin: { n1: 'drain' }, log: { level: 'info', format: 'json' }, heartbeat: { intervalMs: 1_000, missed: 5 } },
      { type: 'view', view },
      { type: 'heartbeat', generation: 7 },
      { type: 'admin_states', states: { n1: 'maint', n2: 'ready' } },
      { type: 'kill_backend', requestId: 1, member: 'n1', reason: 'admin' },
      { type: 'query', requestId: 2, what: 'sessions' },
      { type: 'cancel_owner', requestId: 3, owner: { host: '10.0.0.2', port: 5442 } },
      { type: 'cancel_owner', requestId: 3, owner: null },
      { type: 'drain', deadlineMs: 300_000 },
      { type: 'shutdown', graceMs: 30_000 },
    ] as const;
    for (const b of bodies) expect(parseToWorker(envelope(b)).kind, b.type).toBe('message');
  });

  it('carries paused listeners in init and on their own, and every kill reason (issue 13)', () => {
    const view = emptyView('s', 'etcd');
    const paused = { rw: { since: 1_700_000_000_000, hold_ms: 30_000 } };
    const bodies = [
      { type: 'init', generation: 2, config: { listeners: [] }, view, admin: {}, paused, log: { level: 'info', format: 'json' }, heartbeat: { intervalMs: 1_000, missed: 5 } },
      { type: 'paused_listeners', paused },
      { type: 'paused_listeners', paused: {} },
      { type: 'kill_backend', requestId: 1, member: 'n1', reason: 'drain_timeout' },
      { type: 'kill_backend', requestId: 1, member: 'n1', reason: 'not_sync' },
    ] as const;
    for (const b of bodies) expect(parseToWorker(envelope(b)).kind, b.type).toBe('message');
    expect(parseToWorker(envelope({ type: 'paused_listeners', paused: { rw: { since: 1, hold_ms: -1 } } }))).toMatchObject({ kind: 'invalid' });
    expect(parseToWorker(envelope({ type: 'paused_listeners', paused: { rw: { since: 1, hold_ms: 5, extra: 1 } } }))).toMatchObject({ kind: 'invalid' });
    expect(parseToWorker(envelope({ type: 'kill_backend', requestId: 1, member: 'n1', reason: 'because' }))).toMatchObject({ kind: 'invalid' });
  });

  it('leaves messages that are not pgrouter\'s alone (prom-client, node internals)', () => {
    expect(parseToPrimary({ type: 'prom-client:getMetricsRes', requestId: 1 })).toEqual({ kind: 'foreign' });
    expect(parseToWorker('a string')).toEqual({ kind: 'foreign' });
    expect(parseToWorker(null)).toEqual({ kind: 'foreign' });
  });

  it('refuses a message from another protocol version, saying which', () => {
    expect(parseToPrimary({ pgr: 2, type: 'hello', pid: 1 })).toEqual({ kind: 'invalid', reason: 'IPC version 2, expected 1' });
  });

  it('refuses malformed messages with the field at fault', () => {
    const bad = [
      { pgr: 1, type: 'hello' },
      { pgr: 1, type: 'hello', pid: 1, extra: true },
      { pgr: 1, type: 'nonsense' },
      { pgr: 1, type: 'cancel_key', pid: -1, key: key4, backendHost: 'h', backendPort: 1, sessionId: '1' },
      { pgr: 1, type: 'cancel_key', pid: 1, key: 'not base64!', backendHost: 'h', backendPort: 1, sessionId: '1' },
      { pgr: 1, type: 'cancel_lookup', requestId: 1.5, pid: 1, key: key4 },
      { pgr: 1, type: 'ready', addresses: { rw: { host: '', port: 1 } } },
    ];
    for (const m of bad) {
      const r = parseToPrimary(m);
      expect(r.kind, JSON.stringify(m)).toBe('invalid');
    }
    const r = parseToPrimary({ pgr: 1, type: 'hello', pid: 'x' });
    expect(r).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/^malformed hello message \(\/pid: /) });
  });

  it('refuses cancel keys shorter than 4 or longer than 256 bytes', () => {
    const short = Buffer.from([1, 2, 3]).toString('base64');
    const long = Buffer.alloc(257).toString('base64');
    expect(parseToPrimary(envelope({ type: 'cancel_key_gone', pid: 1, key: short }))).toEqual({ kind: 'invalid', reason: 'cancel_key_gone: cancel key of 3 bytes' });
    expect(parseToPrimary(envelope({ type: 'cancel_lookup', requestId: 1, pid: 1, key: long })).kind).toBe('invalid');
  });

  it('refuses a view without a generation and admin states with unknown words', () => {
    expect(parseToWorker({ pgr: 1, type: 'view', view: { primary: null, members: [] } }).kind).toBe('invalid');
    expect(parseToWorker({ pgr: 1, type: 'admin_states', states: { n1: 'down' } }).kind).toBe('invalid');
    expect(parseToWorker({ pgr: 1, type: 'query', requestId: 1, what: 'everything' }).kind).toBe('invalid');
  });
});
