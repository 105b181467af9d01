import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RestGate } from '../../../test/harness/rest-gate.js';
import { findFreePort } from '../../../test/harness/ports.js';

/** Connects, sends `ping`, resolves with the echoed text, the error's code, or `closed`. */
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString());
    });
    socket.once('close', () => resolve('closed'));
    socket.once('connect', () => socket.write('ping'));
  });
}

describe('RestGate', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });

  async function gateInFrontOfEcho(): Promise<RestGate> {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const address = echo.address() as net.AddressInfo;
    const gate = new RestGate(await findFreePort(), address.port);
    await gate.start();
    cleanup.push(() => gate.stop(), () => new Promise((resolve) => echo.close(() => resolve())));
    return gate;
  }

  it('relays, refuses connections during an outage, and relays again on the same port afterwards', async () => {
    const gate = await gateInFrontOfEcho();
    expect(await ping(gate.port)).toBe('ping');
    const outage = gate.outage(300);
    expect(await ping(gate.port)).toBe('ECONNREFUSED');
    await outage;
    expect(await ping(gate.port)).toBe('ping');
  });

  it('drops the connections in flight when an outage starts, so keep-alive clients notice it', async () => {
    const gate = await gateInFrontOfEcho();
    const socket = net.connect({ host: '127.0.0.1', port: gate.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    await gate.outage(50);
    await closed;
    expect(socket.destroyed).toBe(true);
  });

  it('starts an outage aimed at the next request through the gate, and reports none when no request comes', async () => {
    const gate = await gateInFrontOfEcho();
    expect(await gate.outageOnNextRequest(50, 100)).toBeNull();
    const aimed = gate.outageOnNextRequest(200, 5000);
    const first = await ping(gate.port);
    expect(first).not.toBe('ping');
    expect(await aimed).not.toBeNull();
  });
});
