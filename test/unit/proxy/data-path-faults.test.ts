// Faults on the data path (issue 10): a backend that accepts TCP and never answers.
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog } from '../../helpers/capture-log.js';
import { testConfig } from './helpers/config.js';
import { Fixture } from './helpers/fixture.js';
import { sslRequest, startupPacket } from './helpers/packets.js';
import { RawClient } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait-for.js';

let f: Fixture | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

describe('the first-answer deadline (timeouts.server_hello)', () => {
  // Issue 10, defect 3: a frozen postmaster, a VM pause or a partition right after connect left
  // the client hanging on a backend that accepted and never answered, holding a maxconn slot.
  it('moves a client whose StartupMessage a backend never answers to the next replica, unseen, counted and logged', async () => {
    const { logger, lines } = captureLog();
    f = await Fixture.start({
      backends: ['n1', 'n2', 'n3'],
      primary: 'n1',
      config: testConfig({ timeouts: { server_hello: 300, connect_wait: 5_000 } }),
      perBackend: { n2: { silentStartup: true } },
      logger,
    });
    expect(await f.whereAmI('ro')).toBe('n3');
    expect(f.backends['n2']?.silentStartups).toBe(1);
    expect(f.dp.traffic()['ro']?.backends['n2']?.connect_errors).toBe(1);
    expect(f.dp.traffic()['ro']?.refusals).toEqual({});
    expect(lines.find((l) => l.event === 'backend_no_answer')).toMatchObject({ backend: 'n2', reason: 'server_hello_timeout', phase: 'startup' });
  }, 15_000);

  it('moves a client whose passed-through SSLRequest a backend never answers to the next replica', async () => {
    f = await Fixture.start({
      backends: ['n1', 'n2', 'n3'],
      primary: 'n1',
      config: testConfig({ timeouts: { server_hello: 300, connect_wait: 5_000 } }),
      perBackend: { n2: { sslAnswer: 'none' } },
    });
    const raw = await RawClient.connect(f.port('ro'));
    raw.write(sslRequest());
    await raw.waitBytes(1);
    expect(raw.received.toString()).toBe('N');
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitBytes(10);
    expect(f.backends['n2']?.sslRequests).toBe(1);
    expect(f.backends['n3']?.startups).toHaveLength(1);
    expect(f.dp.traffic()['ro']?.backends['n2']?.connect_errors).toBe(1);
    raw.destroy();
  });

  it('holds an RW client whose only backend never answers, then refuses it with 57P03, never hanging', async () => {
    f = await Fixture.start({
      backends: ['n1'],
      primary: 'n1',
      config: testConfig({ timeouts: { server_hello: 200, connect_wait: 600 } }),
      perBackend: { n1: { silentStartup: true } },
    });
    const raw = await RawClient.connect(f.port('rw'));
    raw.write(startupPacket({ user: 'app' }));
    await raw.waitClosed(5_000);
    expect(raw.received.toString('latin1')).toContain('57P03');
    await waitFor(() => f?.dp.traffic()['rw']?.refusals['no_backend'] === 1, { what: 'the refusal to be counted' });
  });
});

describe('closing with a reason', () => {
  it('ends the relayed sessions with the reason it is given (a reload drain deadline)', async () => {
    f = await Fixture.start({ backends: ['n1'], primary: 'n1' });
    const c = await f.pgClient('rw');
    c.on('error', () => undefined);
    await f.dp.close({ graceMs: 0, reason: 'reload_drain_timeout' });
    await waitFor(() => f?.dp.traffic()['rw']?.closed['reload_drain_timeout'] === 1, { what: 'the session counted under its reason' });
  });
});
