// The cap on outgoing cancel connections (issue 10, defect 4). A CancelRequest is 16
// unauthenticated bytes; one with an unknown key fans out to every candidate backend, and each
// connection costs a postmaster fork. So the connections in flight are bounded per process
// (cancel.max_inflight) and per client address (cancel.max_inflight_per_client); a cancel
// that would exceed either is dropped whole, never sent to only some of its targets.

export class CancelLimiter {
  private inflight = 0;
  private readonly byClient = new Map<string, number>();

  constructor(private limits: { readonly max_inflight: number; readonly max_inflight_per_client: number }) {}

  /** A reload's new caps apply to the next cancels; connections in flight keep their slots. */
  setLimits(limits: { readonly max_inflight: number; readonly max_inflight_per_client: number }): void {
    this.limits = limits;
  }

  /** Takes `n` slots for `client` (its IP address), or none when either cap would be exceeded. */
  tryAcquire(client: string, n: number): boolean {
    const mine = this.byClient.get(client) ?? 0;
    if (this.inflight + n > this.limits.max_inflight || mine + n > this.limits.max_inflight_per_client) return false;
    this.inflight += n;
    this.byClient.set(client, mine + n);
    return true;
  }

  /** Gives one slot back: one connection of `client`'s is done. */
  release(client: string): void {
    this.inflight = Math.max(0, this.inflight - 1);
    const mine = (this.byClient.get(client) ?? 0) - 1;
    if (mine > 0) this.byClient.set(client, mine);
    else this.byClient.delete(client);
  }

  /** Connections in flight now (tests, stats). */
  get current(): number {
    return this.inflight;
  }
}
