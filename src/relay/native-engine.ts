// The native relay thread of this process, shared by everything that hands sessions to it: one
// thread and one epoll set per process (per worker in cluster mode), started on first use. Its
// end reports arrive through one callback (the addon's thread-safe function) and are dispatched
// here to the session they belong to, by id, with the reason in the data path's words.
import type net from 'node:net';
import type { Logger } from '../log.js';
import { END_REASONS, type EndReason } from '../sessions/close-reason.js';
import { HeapTrim } from './heap-trim.js';
import { createNativeRelay, relieveMemoryPressure, type NativeRelay, type NativeRelayEnd } from './native-relay.js';
import type { RelayTimeouts } from './relay.js';

/** A session the thread relays, as the dispatch knows it. */
export interface NativeEntry {
  /** Its end, exactly once: reason mapped to an EndReason, bytes the thread moved. */
  nativeEnded(reason: EndReason, bytesIn: number, bytesOut: number): void;
}

const KNOWN_ENDS: ReadonlySet<string> = new Set<string>(END_REASONS);

/**
 * The thread's end reason as an EndReason: an idle side is that side's timeout, a kill carries
 * the EndReason it was given (killed_not_primary, shutdown, ...). A kill reason that is none
 * (the relay closed at exit) counts as shutdown.
 */
function endReasonOf(end: NativeRelayEnd): EndReason {
  switch (end.reason) {
    case 'client_idle':
      return 'client_timeout';
    case 'server_idle':
      return 'server_timeout';
    case 'killed':
      return end.killReason !== undefined && KNOWN_ENDS.has(end.killReason) ? (end.killReason as EndReason) : 'shutdown';
    default:
      return end.reason;
  }
}

export class NativeSessions {
  private readonly relay: NativeRelay;
  private readonly entries = new Map<number, NativeEntry>();
  /** Gives a connection burst's heap back once it is over. */
  private readonly trim: HeapTrim;

  constructor(private readonly logger: Logger) {
    this.relay = createNativeRelay({ onEnd: (end) => this.ended(end) });
    this.trim = new HeapTrim(relieveMemoryPressure, logger);
  }

  /**
   * Takes a settled session over (native-handover.ts: nothing buffered either way, no 'data'
   * listener) and destroys both net.Sockets. Throws PGR_ERR_RELAY_HANDOVER, _FULL or _CLOSED
   * with the sockets untouched.
   */
  adopt(client: net.Socket, server: net.Socket, timeouts: RelayTimeouts, entry: NativeEntry): number {
    const id = this.relay.adopt(client, server, timeouts);
    this.entries.set(id, entry);
    this.trim.activity();
    return id;
  }

  /** Client → server bytes the thread moved so far (0 once its end was reported). */
  bytesIn(id: number): number {
    return this.relay.bytesIn(id) ?? 0;
  }

  bytesOut(id: number): number {
    return this.relay.bytesOut(id) ?? 0;
  }

  /** Closes both sockets at once; the end report follows. False if the session already ended. */
  kill(id: number, reason: EndReason): boolean {
    return this.relay.kill(id, reason);
  }

  private ended(end: NativeRelayEnd): void {
    const entry = this.entries.get(end.id);
    // Every adopted session has an entry until its one report: a miss is a bug that would keep a
    // session in the data path for ever (it did once: adopt() returned a freed session's id).
    if (!entry) return void this.logger.error({ event: 'relay_end_unknown', id: end.id, reason: end.reason }, 'the native relay reported the end of a session it was never given');
    this.entries.delete(end.id);
    entry.nativeEnded(endReasonOf(end), end.bytesIn, end.bytesOut);
  }
}

let shared: NativeSessions | null = null;

/**
 * This process's relay thread, started on first use (`logger`: the first user's). Throws
 * PGR_ERR_RELAY_UNAVAILABLE (the addon does not load here) or PGR_ERR_RELAY_START.
 */
export function nativeSessions(logger: Logger): NativeSessions {
  shared ??= new NativeSessions(logger);
  return shared;
}
