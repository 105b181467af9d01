// The relay engines bench/relay-micro.ts compares, and the front port that hands each client
// to one: the native relay (splice or copy) and the JS relay's hot path.
import { once } from 'node:events';
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createNativeRelay, type NativeRelay } from '../../src/relay/native-relay.js';

export const ENGINES = ['js', 'splice', 'copy', 'auto'] as const;
export type EngineName = (typeof ENGINES)[number];

export interface Engine {
  attach(front: net.Socket, back: net.Socket): void;
  /** Pairs attached and not closed yet. */
  live(): number;
  close(): void;
  readonly native: NativeRelay | null;
}

/** The JS relay's per-chunk path without the session hooks (src/proxy/relay.ts does the same). */
function jsEngine(): Engine {
  const relay = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
  };
  let live = 0;
  return {
    attach(front, back) {
      relay(front, back);
      relay(back, front);
      live++;
      let closed = 0;
      const gone = (): void => {
        if (++closed === 2) live--;
      };
      front.once('close', gone);
      back.once('close', gone);
      front.resume();
    },
    live: () => live,
    close: () => undefined,
    native: null,
  };
}

function nativeEngine(strategy: 'splice' | 'copy' | 'auto'): Engine {
  const relay = createNativeRelay({ strategy, onEnd: () => undefined });
  return {
    attach: (front, back) => void relay.adopt(front, back, { client: 0, server: 0 }),
    live: () => relay.sessions,
    close: () => relay.close('bench'),
    native: relay,
  };
}

export function createEngine(name: EngineName): Engine {
  return name === 'js' ? jsEngine() : nativeEngine(name);
}

/** The relay's front port: each client gets a backend connection, then the engine. */
export async function listenFront(engine: Engine, backendPort: number): Promise<net.Server> {
  // pauseOnConnect: Node reads nothing before the handover (native-handover.ts preconditions).
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) => {
    const back = net.connect({ host: '127.0.0.1', port: backendPort, allowHalfOpen: true, noDelay: true });
    back.once('connect', () => engine.attach(client, back));
    back.on('error', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** A forked bench process spoken to over IPC: send() an op, next(op) its answer. */
export class Peer {
  readonly child: ChildProcess;
  private readonly inbox: Array<Record<string, number | string>> = [];
  private waiting: (() => void) | null = null;

  constructor(script: string, args: string[] = [], execArgv: string[] = []) {
    this.child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    this.child.on('message', (m: Record<string, number | string>) => {
      this.inbox.push(m);
      this.waiting?.();
    });
  }

  send(message: object): void {
    this.child.send(message);
  }

  async next(op: string): Promise<Record<string, number | string>> {
    for (;;) {
      const i = this.inbox.findIndex((m) => m.op === op);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}
