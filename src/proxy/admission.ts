// maxconn per listener: a slot count and a FIFO queue of waiting clients (HAProxy's per-frontend
// maxconn plus its queue). No timers here: the waiting session owns its queue timeout and
// withdraws itself when it fires.

export type Grant = () => void;

export class Admission {
  private active = 0;
  /** Insertion-ordered: the first entry is the longest waiter. */
  private readonly waiting = new Set<Grant>();

  /** maxconn 0 = unlimited. */
  constructor(private maxconn: number) {}

  /**
   * A reload changed maxconn. Slots already held stay held (their sessions run on); a higher
   * limit lets queued clients in at once, a lower one only stops granting until enough end.
   */
  setLimit(maxconn: number): void {
    this.maxconn = maxconn;
    while (this.waiting.size > 0 && (this.maxconn === 0 || this.active < this.maxconn)) {
      const next = this.waiting.values().next();
      if (next.done === true) break;
      this.waiting.delete(next.value);
      this.active++;
      next.value();
    }
  }

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
    // Over the limit after a reload lowered maxconn: the freed slot is not passed on.
    if (next.done === true || (this.maxconn > 0 && this.active > this.maxconn)) {
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
