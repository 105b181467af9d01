// Requests that wait for an answer over IPC, by requestId, each with its own deadline. Used on
// both sides: the primary waiting for a worker's reply, a worker waiting for the primary's
// cancel_owner. A request that is never answered (the other side died, a message was dropped
// as malformed) settles through its timeout: nobody waits forever on a process boundary.

interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class PendingRequests<T> {
  private readonly pending = new Map<number, Pending<T>>();
  private nextId = 1;

  /**
   * Registers a request and returns its id and answer. After `timeoutMs` the answer is
   * `onTimeout()` when given (a default, e.g. "owner unknown"), otherwise a rejection.
   */
  create(timeoutMs: number, what: string, onTimeout?: () => T): { id: number; answer: Promise<T> } {
    const id = this.nextId;
    // Wrap well below 2^53 so ids always pass the schema's integer check.
    this.nextId = this.nextId >= 0x7fff_ffff ? 1 : this.nextId + 1;
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        if (onTimeout) resolve(onTimeout());
        else reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    return { id, answer };
  }

  /** Settles request `id` with a value; false when it is unknown (late or duplicate answer). */
  resolve(id: number, value: T): boolean {
    const p = this.take(id);
    p?.resolve(value);
    return p !== null;
  }

  reject(id: number, err: Error): boolean {
    const p = this.take(id);
    p?.reject(err);
    return p !== null;
  }

  /** The other side is gone: every open request fails now instead of at its deadline. */
  rejectAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.reject(id, err);
  }

  get size(): number {
    return this.pending.size;
  }

  private take(id: number): Pending<T> | null {
    const p = this.pending.get(id);
    if (!p) return null;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }
}
