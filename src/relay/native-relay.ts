// The native relay engine (issue 12): after the startup phase a plaintext or TLS-pass-through
// session is two sockets whose bytes a relay thread moves (native/: epoll, splice or
// recv/send), below Node's stream layer. This module loads the addon, hands sessions over
// (native-handover.ts says what the caller must guarantee) and exposes the byte counters as a
// shared table the thread writes, so stats read them without a JS event per chunk.
//
// The JavaScript relay stays for TLS-terminated sessions and wherever available() is false.
import type net from 'node:net';
import os from 'node:os';
import { loadAddon, loadError, type Addon, type AddonRelay, type RawEnd, type RawSocketDetails } from './native-addon.js';
import { NativeRelayError, type NativeRelayErrorCode } from './native-error.js';
import { handoverFds, releaseSockets } from './native-handover.js';

export { available, loadError } from './native-addon.js';

/**
 * copy: recv()/send() through a small buffer; splice: socket → pipe → socket in the kernel;
 * auto: copy, switching a direction to splice while it streams (a read filled the buffer).
 */
export type NativeStrategy = 'copy' | 'splice' | 'auto';

export type NativeEndReason =
  | 'client_closed' // the client's FIN came first, then both directions finished
  | 'server_closed'
  | 'client_idle' // nothing read from or written to the client for timeouts.client ms
  | 'server_idle'
  | 'client_error' // a read from or write to the client failed (errno says why)
  | 'server_error'
  | 'killed'; // kill(), killAll() or close() (killReason says which)

export interface NativeRelayEnd {
  readonly id: number;
  readonly reason: NativeEndReason;
  /** Bytes written to the server (client → server) by the relay thread. */
  readonly bytesIn: number;
  /** Bytes written to the client (server → client) by the relay thread. */
  readonly bytesOut: number;
  /** The errno name of a *_error end ('ECONNRESET', 'EPIPE', ...). */
  readonly errno?: string;
  /** The reason given to kill(), killAll() or close(). */
  readonly killReason?: string;
}

export interface NativeRelayOptions {
  strategy?: NativeStrategy;
  /** copy strategy: the buffer per read, and the most one direction holds; default 16 KiB. */
  bufferSize?: number;
  /** Session slots (sessions relayed at once); default 65,536. */
  capacity?: number;
  /** Each session's end, exactly once, on the JS thread. Must not throw. */
  onEnd(end: NativeRelayEnd): void;
}

export interface NativeRelayStats {
  /** Sessions the relay thread holds (ended ones drop out before their report reaches JS). */
  readonly sessions: number;
  /** Bytes read and not yet written, all sessions: the relay's own buffering. */
  readonly pendingBytes: number;
  readonly buffersInUse: number;
  readonly pipesInUse: number;
  /** epoll_wait returns so far. */
  readonly wakeups: number;
  /** Idle-timer entries (one per session with a timeout, until swept after its end). */
  readonly timers: number;
  /** splice, auto: a pipe's capacity, the most one direction holds (0 with copy: bufferSize then). */
  readonly pipeCapacity: number;
}

export interface NativeSocketDetails {
  readonly fd: number;
  readonly keepalive: boolean;
  /** TCP_KEEPIDLE in seconds. */
  readonly keepIdle: number;
  readonly noDelay: boolean;
}

const DEFAULT_CAPACITY = 65_536;
const DEFAULT_BUFFER = 16_384;
/** bench/relay-micro.ts: auto costs what copy costs per round trip and what splice costs per GiB. */
export const DEFAULT_STRATEGY: NativeStrategy = 'auto';

/** Starts a relay thread. Throws PGR_ERR_RELAY_UNAVAILABLE when the addon does not load. */
export function createNativeRelay(options: NativeRelayOptions): NativeRelay {
  const loaded = loadAddon();
  if (!loaded) throw loadError() ?? new NativeRelayError('PGR_ERR_RELAY_UNAVAILABLE', 'the native relay is not available');
  return new NativeRelay(loaded, options);
}

let errnoNames: Map<number, string> | undefined;

function errnoName(errno: number): string {
  errnoNames ??= new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** A native error (thrown by the addon with a code) as a NativeRelayError. */
function wrap(err: unknown): NativeRelayError {
  const code = (err as { code?: unknown }).code;
  const known = typeof code === 'string' && code.startsWith('PGR_ERR_RELAY_') ? (code as NativeRelayErrorCode) : 'PGR_ERR_RELAY_START';
  return new NativeRelayError(known, err instanceof Error ? err.message : String(err), { cause: err });
}

export class NativeRelay {
  readonly strategy: NativeStrategy;
  readonly capacity: number;
  /** Per slot: [id, bytesIn, bytesOut], written by the relay thread. */
  private readonly table: Float64Array;
  private readonly native: AddonRelay;
  private live = 0;
  private closed = false;

  constructor(loaded: Addon, private readonly options: NativeRelayOptions) {
    this.strategy = options.strategy ?? DEFAULT_STRATEGY;
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.table = new Float64Array(this.capacity * 3);
    try {
      this.native = new loaded.NativeRelay({
        strategy: this.strategy,
        bufferSize: options.bufferSize ?? DEFAULT_BUFFER,
        capacity: this.capacity,
        table: this.table,
        onEnd: (raw) => this.ended(raw),
      });
    } catch (err) {
      throw wrap(err);
    }
  }

  /** Sessions handed over whose end has not been reported yet. */
  get sessions(): number {
    return this.live;
  }

  /**
   * Takes a session over: the relay thread relays from now on, and both net.Sockets are
   * destroyed here (remove your 'close' listeners first; the connections stay open). Throws
   * PGR_ERR_RELAY_HANDOVER (a precondition of native-handover.ts does not hold),
   * PGR_ERR_RELAY_FULL or PGR_ERR_RELAY_CLOSED, and then leaves both sockets untouched.
   * `timeouts`: idle ms per side, 0 = none.
   */
  adopt(client: net.Socket, server: net.Socket, timeouts: { readonly client: number; readonly server: number }): number {
    const [clientFd, serverFd] = handoverFds(client, server);
    let id: number;
    try {
      id = this.native.adopt(clientFd, serverFd, timeouts.client, timeouts.server);
    } catch (err) {
      throw wrap(err);
    }
    this.live++;
    releaseSockets(client, server);
    return id;
  }

  /** Live byte counters of a session (undefined once its end was reported). */
  counters(id: number): { bytesIn: number; bytesOut: number } | undefined {
    const at = (id % this.capacity) * 3;
    if (this.table[at] !== id) return undefined;
    return { bytesIn: this.table[at + 1] ?? 0, bytesOut: this.table[at + 2] ?? 0 };
  }

  /** Client → server bytes so far, without allocating (undefined once the end was reported). */
  bytesIn(id: number): number | undefined {
    const at = (id % this.capacity) * 3;
    return this.table[at] === id ? this.table[at + 1] : undefined;
  }

  /** Server → client bytes so far, without allocating (undefined once the end was reported). */
  bytesOut(id: number): number | undefined {
    const at = (id % this.capacity) * 3;
    return this.table[at] === id ? this.table[at + 2] : undefined;
  }

  /** Closes both sockets of one session now; false if it is not relayed (any more). */
  kill(id: number, reason: string): boolean {
    return this.native.kill(id, reason);
  }

  /** Closes every session now; returns how many were relayed. */
  killAll(reason: string): number {
    return this.native.killAll(reason);
  }

  stats(): NativeRelayStats {
    return this.native.stats();
  }

  /** The relay's own fds of a session and their socket options (diagnostics); null if unknown. */
  inspect(id: number): [NativeSocketDetails, NativeSocketDetails] | null {
    const raw = this.native.inspect(id);
    if (!raw) return null;
    const details = (r: RawSocketDetails): NativeSocketDetails => ({ fd: r.fd, keepalive: r.keepalive === 1, keepIdle: r.keepIdle, noDelay: r.noDelay === 1 });
    return [details(raw[0]), details(raw[1])];
  }

  /**
   * Ends every session (each reported as killed with `reason`, asynchronously), stops the
   * thread and closes every fd before returning. Idempotent.
   */
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close(reason);
  }

  private ended(raw: RawEnd): void {
    this.live--;
    const end: NativeRelayEnd = {
      id: raw.id,
      reason: raw.reason,
      bytesIn: raw.bytesIn,
      bytesOut: raw.bytesOut,
      ...(raw.errno !== 0 ? { errno: errnoName(raw.errno) } : {}),
      ...(raw.killReason !== undefined ? { killReason: raw.killReason } : {}),
    };
    this.options.onEnd(end);
  }
}
