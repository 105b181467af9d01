// Bidirectional byte relay between a client and its backend, with backpressure, half-close and
// idle timeouts. No buffers of its own: a chunk goes straight from one socket to the other, and
// a side whose peer cannot keep up is paused until the peer drains.
import type net from 'node:net';

export type RelayEnd =
  | 'client_closed'
  | 'server_closed'
  | 'client_error'
  | 'server_error'
  | 'client_timeout'
  | 'server_timeout'
  | 'destroyed';

export interface RelayHooks {
  /** Every chunk from the client, before it is written to the server. */
  onClientData(chunk: Buffer): void;
  /** Every chunk from the server, before it is written to the client. */
  onServerData(chunk: Buffer): void;
  /** Called once, when the first of the two sockets is closed: the session is over. */
  onEnd(reason: RelayEnd): void;
}

export interface RelayTimeouts {
  /** Client idle timeout in ms; 0 = none. */
  readonly client: number;
  /** Server idle timeout in ms; 0 = none. */
  readonly server: number;
}

/** How long the surviving side may take to flush its pending bytes after the other closed. */
const CLOSE_LINGER_MS = 10_000;

export interface Relay {
  /** Destroys both sockets at once (a view change killed the session, or shutdown). */
  destroy(): void;
}

/** Ends `socket` (flushing what is queued) and destroys it once flushed, or after a linger limit. */
export function endThenDestroy(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  const linger = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.once('finish', () => socket.destroy());
  if (!socket.writableEnded) socket.end();
}

export function startRelay(client: net.Socket, server: net.Socket, timeouts: RelayTimeouts, hooks: RelayHooks): Relay {
  let ended: RelayEnd | null = null;
  let pendingReason: RelayEnd | null = null;
  const end = (reason: RelayEnd): void => {
    if (ended !== null) return;
    ended = reason;
    hooks.onEnd(reason);
  };

  const pump = (from: net.Socket, to: net.Socket, onData: (chunk: Buffer) => void): void => {
    from.on('data', (chunk: Buffer) => {
      if (to.destroyed || to.writableEnded) return;
      onData(chunk);
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!from.destroyed) from.resume();
    });
    // Half-close: a FIN from one side is passed on as a FIN to the other ("Message Flow:
    // Termination": the server closes after Terminate; the client may close first).
    from.on('end', () => {
      if (!to.destroyed && !to.writableEnded) to.end();
    });
  };
  pump(client, server, hooks.onClientData);
  pump(server, client, hooks.onServerData);

  client.on('error', () => {
    pendingReason ??= 'client_error';
  });
  server.on('error', () => {
    pendingReason ??= 'server_error';
  });
  client.on('close', () => {
    end(pendingReason ?? 'client_closed');
    endThenDestroy(server);
  });
  server.on('close', () => {
    end(pendingReason ?? 'server_closed');
    endThenDestroy(client);
  });

  const idle = (socket: net.Socket, ms: number, reason: RelayEnd): void => {
    if (ms <= 0) return;
    socket.setTimeout(ms, () => {
      pendingReason ??= reason;
      client.destroy();
      server.destroy();
    });
  };
  idle(client, timeouts.client, 'client_timeout');
  idle(server, timeouts.server, 'server_timeout');

  client.resume();
  server.resume();
  return {
    destroy: () => {
      pendingReason ??= 'destroyed';
      client.destroy();
      server.destroy();
    },
  };
}
