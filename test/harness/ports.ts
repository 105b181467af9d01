// Free loopback ports for the local cluster. We bind port 0, read the port the kernel picked
// and release it; the process that will own it binds it a moment later.
import net from 'node:net';
import { HarnessError } from './errors.js';

// The production defaults (DESIGN.md port table): a test must never touch a real service on them.
const RESERVED = new Set([5432, 5433, 5442, 8404, 2379, 2380, 8008]);

// Ports handed out by this process. The kernel may hand the same port out again once it is
// released, so two allocations in one run could otherwise collide before anyone binds it.
const handedOut = new Set<number>();

function bindZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** A loopback port that was free a moment ago and that this process has not handed out before. */
export async function findFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    let port: number;
    try {
      port = await bindZero();
    } catch (err) {
      throw new HarnessError('cannot bind a free loopback port', { cause: err });
    }
    if (port > 0 && !RESERVED.has(port) && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new HarnessError('no unused free loopback port after 50 attempts');
}

/** `count` distinct free loopback ports. */
export async function findFreePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await findFreePort());
  return ports;
}
