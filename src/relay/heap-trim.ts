// Giving a connection burst's heap back once the burst is over (issue 12, memory per session).
//
// With the native relay a held session costs JS about 1 KiB of live objects (its record, its
// registry entry, the relay's handle). Opening it costs much more, and all of that is garbage
// once the relay thread has the sockets: the handshake's objects, two net.Sockets and their
// stream states, Buffers. A burst of new sessions grows V8's young generation to its maximum and
// promotes part of that garbage; V8 does not give any of it back while the process is idle (it
// collects when it allocates, and an idle router allocates nothing), so RSS stays at the burst's
// high-water mark: measured, 7 to 9 KiB per session held after a burst of 5,000, against about
// 1.5 KiB once a full GC has run.
//
// So V8 is told that memory is wanted back (the addon's relieveMemoryPressure: a full, compacting
// GC that also shrinks the young generation) when the data path has been quiet for QUIET_MS (no
// session handed over), at three kinds of moments:
//   - the first quiet moment after start (what starting up allocated: about 30 MB of heap);
//   - the first quiet moment after the first sessions (a pool warming up);
//   - then after every burst of at least BURST sessions.
// A trim blocks the JS thread for tens of ms at a moment nothing arrives, while the relay thread
// keeps moving the bytes of established sessions. A router that keeps accepting never trims, and
// one that accepts a session now and then trims no more than once per BURST sessions.
import v8 from 'node:v8';
import type { Logger } from '../log.js';

/** How long no new session must have arrived. */
export const QUIET_MS = 1_000;
/** Sessions handed over since the last trim that make a burst. */
export const BURST = 256;

export class HeapTrim {
  private lastActivity: number;
  private timer: NodeJS.Timeout | null = null;
  /** Sessions handed over since the last trim. */
  private sessions = 0;
  private trims = 0;

  constructor(
    private readonly relieve: () => void,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.lastActivity = now();
    this.arm(QUIET_MS);
  }

  /** A session was handed over: the quiet period starts again. Costs a clock read. */
  activity(): void {
    this.sessions++;
    this.lastActivity = this.now();
    if (this.timer === null) this.arm(QUIET_MS);
  }

  /** Stops watching (the data path closed). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(onTimer, ms, this);
    this.timer.unref();
  }

  /** The timer fired: trim if quiet long enough at one of the moments above, else wait. */
  check(): void {
    this.timer = null;
    const quietFor = this.now() - this.lastActivity;
    if (quietFor < QUIET_MS) return this.arm(QUIET_MS - quietFor);
    const due = this.trims === 0 || (this.sessions > 0 && (this.trims === 1 || this.sessions >= BURST));
    if (!due) return;
    const sessions = this.sessions;
    const before = v8.getHeapStatistics().total_heap_size;
    const started = process.hrtime.bigint();
    this.relieve();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.sessions = 0;
    this.trims++;
    const after = v8.getHeapStatistics().total_heap_size;
    this.logger.debug({ event: 'heap_trimmed', sessions, before_mib: mib(before), after_mib: mib(after), ms: Math.round(ms) }, 'gave the heap of a connection burst back');
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 104_857.6) / 10;
}

function onTimer(trim: HeapTrim): void {
  trim.check();
}
