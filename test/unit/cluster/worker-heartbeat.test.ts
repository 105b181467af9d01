// A worker routes on views the primary sends it. When they stop arriving (no view and no
// heartbeat for `missed` × interval), it stops taking new sessions, so a load balancer moves
// clients elsewhere, rather than route on a stale view forever; it takes them again when the
// primary is heard from (issue 10, guard). Established sessions are left alone.
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, parseToPrimary, type ToPrimaryMessage, type ToWorkerBody } from '../../../src/cluster/ipc-messages.js';
import { WorkerProcess, type WorkerChannel } from '../../../src/cluster/worker.js';
import { testConfig } from '../proxy/helpers/config.js';
import { FakeBackend } from '../proxy/helpers/fake-backend.js';
import { connectionRefused, readySession } from '../proxy/helpers/raw-client.js';
import { member, view } from '../proxy/helpers/view.js';
import { waitFor } from '../proxy/helpers/wait-for.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A WorkerProcess in this process, with an in-memory channel standing in for IPC. */
function worker(): { send: (body: ToWorkerBody) => void; sent: ToPrimaryMessage[]; exited: number[] } {
  let onMessage: (m: unknown) => void = () => undefined;
  const sent: ToPrimaryMessage[] = [];
  const exited: number[] = [];
  const channel: WorkerChannel = {
    send: (m) => {
      const parsed = parseToPrimary(m);
      if (parsed.kind === 'message') sent.push(parsed.message);
    },
    onMessage: (fn) => (onMessage = fn),
    onDisconnect: () => undefined,
    exit: (code) => void exited.push(code),
  };
  const w = new WorkerProcess(channel, { pid: process.pid, workerId: 1 });
  w.start();
  const send = (body: ToWorkerBody): void => onMessage(JSON.parse(JSON.stringify(envelope(body))));
  cleanup.push(() => send({ type: 'shutdown', graceMs: 0 }));
  return { send, sent, exited };
}


describe('a worker without views or heartbeats from the primary', () => {
  it('stops accepting after missed × interval, keeps its sessions, and accepts again on the next heartbeat', async () => {
    const backend = await FakeBackend.start('n1');
    cleanup.push(() => backend.close());
    const w = worker();
    const v = view(7, [member({ name: 'n1', port: backend.port })], 'n1');
    const config = testConfig({ timeouts: { shutdown_grace: 0 } });
    w.send({ type: 'init', generation: 1, config, view: v, admin: {}, log: { level: 'silent', format: 'json' }, heartbeat: { intervalMs: 100, missed: 3 } });
    const ready = await waitFor(() => w.sent.find((m) => m.type === 'ready') ?? null, { what: 'ready' });
    const port = ready.type === 'ready' ? (ready.addresses['rw']?.port ?? 0) : 0;
    // Heartbeats keep it accepting.
    const beat = setInterval(() => w.send({ type: 'heartbeat', generation: 7 }), 50);
    cleanup.push(() => clearInterval(beat));
    const s = await readySession(port);
    cleanup.push(() => s.raw.destroy());
    expect(await connectionRefused(port)).toBe(false);

    // The primary goes quiet: after 3 × 100 ms the worker lets go of the port.
    clearInterval(beat);
    await waitFor(() => connectionRefused(port), { timeoutMs: 5_000, what: 'the port to refuse new connections' });
    expect(s.raw.closed).toBe(false);
    const before = s.raw.received.length;
    s.raw.write(Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from('select 1\0')]));
    await waitFor(() => s.raw.received.length > before, { what: 'the established session to answer' });

    // A heartbeat for a view it has: it accepts again, on the same port.
    w.send({ type: 'heartbeat', generation: 7 });
    await waitFor(async () => !(await connectionRefused(port)), { timeoutMs: 5_000, what: 'the port to accept again' });
    const again = await readySession(port);
    again.raw.destroy();
  });

  it('counts a heartbeat for a view it never got as no heartbeat at all', async () => {
    const backend = await FakeBackend.start('n1');
    cleanup.push(() => backend.close());
    const w = worker();
    const config = testConfig({ timeouts: { shutdown_grace: 0 } });
    w.send({ type: 'init', generation: 1, config, view: view(7, [member({ name: 'n1', port: backend.port })], 'n1'), admin: {}, log: { level: 'silent', format: 'json' }, heartbeat: { intervalMs: 100, missed: 3 } });
    const ready = await waitFor(() => w.sent.find((m) => m.type === 'ready') ?? null, { what: 'ready' });
    const port = ready.type === 'ready' ? (ready.addresses['rw']?.port ?? 0) : 0;
    // The primary is at generation 9; view 8 and 9 were lost on the way.
    const beat = setInterval(() => w.send({ type: 'heartbeat', generation: 9 }), 50);
    cleanup.push(() => clearInterval(beat));
    await waitFor(() => connectionRefused(port), { timeoutMs: 5_000, what: 'the port to refuse new connections' });
    w.send({ type: 'view', view: view(9, [member({ name: 'n1', port: backend.port })], 'n1') });
    await waitFor(async () => !(await connectionRefused(port)), { timeoutMs: 5_000, what: 'the port to accept again after view 9' });
  });
});
