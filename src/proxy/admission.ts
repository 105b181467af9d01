// maxconn per listener: a slot count and a FIFO queue of waiting clients (HAProxy's per-frontend
// maxconn plus its queue). No timers here: the waiting session owns its queue timeout and
// withdraws itself when it fires.

export type Grant = () => void;

export class Admission {
  private active = 0;
  /** Insertion-ordered: the first entry is the longest waiter. */
  private readonly waiting = new Set<Grant>();

  /** maxconn 0 = unlimited. */
  constructor(private readonly maxconn: number) {}

  /** Takes a slot now if one is free; otherwise queues `grant`, called when a slot passes to it. */
  acquire(grant: Grant): boolean {
    if (this.maxconn === 0 || (this.active < this.maxconn && this.waiting.size === 0)) {
      this.active++;
      return true;
    }
    this.waiting.add(grant);
    return false;
  }

  /** A queued client gave up (timeout, disconnect). */
  withdraw(grant: Grant): void {
    this.waiting.delete(grant);
  }

  /** A slot holder ended: the slot passes to the longest waiter, if any. */
  release(): void {
    const next = this.waiting.values().next();
    if (next.done === true) {
      this.active = Math.max(0, this.active - 1);
      return;
    }
    this.waiting.delete(next.value);
    next.value();
  }

  stats(): { active: number; queued: number } {
    return { active: this.active, queued: this.waiting.size };
  }
}
