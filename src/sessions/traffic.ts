// Traffic counters of one listener, per backend: the data path's one ledger. Plain numbers it
// bumps a few times per session (never per chunk), read by the stats page and, at scrape time,
// by the Prometheus exporter (src/metrics). One source for both, so /stats and /metrics always
// agree, and every closed client is counted once, by its CloseReason (close-reason.ts).
//
// Bytes: the relay already adds each chunk's length to its SessionRecord (one number add, no
// allocation); the native relay's thread counts in a table JS reads (SessionRecord.relayBytes).
// Here a session's bytes are folded into the backend totals when its relay ends, and the
// sessions still relaying are summed when someone asks: the hot path stays untouched and the
// totals only ever grow (a session is in `live` until its bytes are folded in, and the native
// relay's counts are added to the record before it leaves `live`).
import { killReasonOf, type EndReason, type RefusalReason } from './close-reason.js';
import { liveBytesIn, liveBytesOut } from './registry.js';
import type { BackendTraffic, ListenerTraffic, LiveBytes } from './types.js';

/** What the counters need from a relaying session; SessionRecord satisfies it. */
export interface LiveSession {
  readonly backend: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The native relay's live counts, not yet in bytesIn/bytesOut. */
  readonly relayBytes?: LiveBytes | null;
}

interface BackendCounts {
  current: number;
  max: number;
  total: number;
  /** Bytes of the sessions whose relay ended. */
  bytesIn: number;
  bytesOut: number;
  connectErrors: number;
  readonly killed: Map<string, number>;
}

export function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export class TrafficCounter {
  private total = 0;
  private heldTotal = 0;
  private readonly refusals = new Map<string, number>();
  private readonly closed = new Map<string, number>();
  private readonly cancels = new Map<string, number>();
  private readonly backends = new Map<string, BackendCounts>();
  private readonly live = new Set<LiveSession>();

  /** A client connection was accepted. */
  accepted(): void {
    this.total++;
  }

  /** A client began to wait for a backend (counted once per client by the listener). */
  held(): void {
    this.heldTotal++;
  }

  /** A client was closed before its session reached the relay. */
  refused(reason: RefusalReason): void {
    bump(this.refusals, reason);
  }

  /** A CancelRequest that arrived on this listener, by what became of it. */
  cancel(outcome: string): void {
    bump(this.cancels, outcome);
  }

  connectError(backend: string): void {
    this.backend(backend).connectErrors++;
  }

  relayStarted(session: LiveSession): void {
    if (this.live.has(session)) return;
    this.live.add(session);
    const b = this.backend(session.backend);
    b.current++;
    b.total++;
    if (b.current > b.max) b.max = b.current;
  }

  /** A relayed session ended: counted by `reason`, and per backend when the router killed it. */
  relayEnded(session: LiveSession, reason: EndReason): void {
    if (!this.live.delete(session)) return;
    const b = this.backend(session.backend);
    b.current--;
    b.bytesIn += session.bytesIn;
    b.bytesOut += session.bytesOut;
    bump(this.closed, reason);
    const killed = killReasonOf(reason);
    if (killed !== null) bump(b.killed, killed);
  }

  /** `current`, `queued` and `held` are the listener's own gauges. */
  snapshot(gauges: { current: number; queued: number; held: number }): ListenerTraffic {
    const liveBytes = new Map<string, { in: number; out: number }>();
    for (const s of this.live) {
      const acc = liveBytes.get(s.backend) ?? { in: 0, out: 0 };
      acc.in += liveBytesIn(s);
      acc.out += liveBytesOut(s);
      liveBytes.set(s.backend, acc);
    }
    // Null prototype: a backend named "__proto__" is an entry like any other (issue 10).
    const backends = Object.create(null) as Record<string, BackendTraffic>;
    let bytesIn = 0;
    let bytesOut = 0;
    for (const [name, b] of this.backends) {
      const live = liveBytes.get(name);
      const t: BackendTraffic = {
        current: b.current,
        max: b.max,
        total: b.total,
        bytes_in: b.bytesIn + (live?.in ?? 0),
        bytes_out: b.bytesOut + (live?.out ?? 0),
        connect_errors: b.connectErrors,
        killed: Object.fromEntries(b.killed),
      };
      bytesIn += t.bytes_in;
      bytesOut += t.bytes_out;
      backends[name] = t;
    }
    return {
      current: gauges.current,
      total: this.total,
      queued: gauges.queued,
      held: gauges.held,
      held_total: this.heldTotal,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      refusals: Object.fromEntries(this.refusals),
      closed: Object.fromEntries(this.closed),
      backends,
      cancels: Object.fromEntries(this.cancels),
    };
  }

  private backend(name: string): BackendCounts {
    let b = this.backends.get(name);
    if (!b) {
      b = { current: 0, max: 0, total: 0, bytesIn: 0, bytesOut: 0, connectErrors: 0, killed: new Map() };
      this.backends.set(name, b);
    }
    return b;
  }
}
