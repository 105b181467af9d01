// Deadlines of drains (issue 13): `{"state":"drain","timeout":"5m"}` closes the member's
// remaining sessions when the time is up, so a node can really be emptied before a reboot.
// One timer per member; setting a member's state again (any state) cancels its deadline first.
// The timers are unref'd: a deadline never keeps a stopping router alive.
import { MAX_DURATION_MS } from '../config/units.js';

export class DrainDeadlines {
  private readonly timers = new Map<string, { readonly at: number; readonly timer: NodeJS.Timeout }>();

  constructor(
    private readonly onDeadline: (member: string) => void,
    private readonly now: () => number,
  ) {}

  /** Arms `member`'s deadline `timeoutMs` from now (replacing any earlier one); returns its epoch ms. */
  set(member: string, timeoutMs: number): number {
    // setTimeout's limit; the admin API's parseDuration refuses longer ones already.
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_DURATION_MS) {
      throw new RangeError(`drain timeout must be 0..${MAX_DURATION_MS} ms, got ${timeoutMs}`);
    }
    this.cancel(member);
    const at = this.now() + timeoutMs;
    const timer = setTimeout(() => {
      this.timers.delete(member);
      this.onDeadline(member);
    }, timeoutMs);
    timer.unref();
    this.timers.set(member, { at, timer });
    return at;
  }

  /** True when a deadline was armed. */
  cancel(member: string): boolean {
    const t = this.timers.get(member);
    if (!t) return false;
    clearTimeout(t.timer);
    this.timers.delete(member);
    return true;
  }

  /** Epoch ms of every armed deadline, by member. */
  deadlines(): Record<string, number> {
    return Object.fromEntries([...this.timers].map(([member, t]) => [member, t.at]));
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
  }
}
