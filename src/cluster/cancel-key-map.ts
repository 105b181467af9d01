// The primary's map of every cancel key its workers learned: (pid, key) → backend host:port. The
// key is the one the client holds; with cancel.rewrite_keys the backend's own rides along.
// A CancelRequest reaches whichever worker the kernel or the round robin picked, usually not
// the one relaying the session. That worker asks the primary, which answers from this map, so
// the cancel goes to the one backend that owns the key. The map is an optimization: a key it
// does not know (evicted, a worker that just crashed, another router instance) falls back to
// the broadcast to every eligible member, which PostgreSQL makes safe (wrong keys are ignored).
//
// Bounded: beyond maxEntries the oldest entries are evicted (Map keeps insertion order), so a
// worker that never reports "gone" (a bug) cannot grow the primary without limit.
import { cancelKeyId, type BackendKey } from '../protocol/cancel-key.js';

export interface CancelOwner {
  readonly host: string;
  readonly port: number;
  readonly workerId: number;
  readonly sessionId: string;
  /** The backend's own key when the client was given a rewritten one (cancel.rewrite_keys). */
  readonly real?: BackendKey;
}

export interface CancelKeyMapStats {
  readonly size: number;
  readonly evicted: number;
}

export const DEFAULT_MAX_CANCEL_KEYS = 200_000;


export class CancelKeyMap {
  private readonly entries = new Map<string, CancelOwner>();
  private readonly byWorker = new Map<number, Set<string>>();
  private evicted = 0;

  constructor(private readonly maxEntries: number = DEFAULT_MAX_CANCEL_KEYS) {}

  set(pid: number, key: Buffer, owner: CancelOwner): void {
    const id = cancelKeyId(pid, key);
    // Re-inserting moves it to the young end, and a key reused by another worker moves too.
    this.deleteId(id);
    this.entries.set(id, owner);
    let ids = this.byWorker.get(owner.workerId);
    if (!ids) {
      ids = new Set();
      this.byWorker.set(owner.workerId, ids);
    }
    ids.add(id);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.deleteId(oldest.value);
      this.evicted++;
    }
  }

  /** Removes the key if `workerId` still owns it (a newer owner elsewhere is kept). */
  delete(pid: number, key: Buffer, workerId: number): void {
    const id = cancelKeyId(pid, key);
    if (this.entries.get(id)?.workerId === workerId) this.deleteId(id);
  }

  get(pid: number, key: Buffer): CancelOwner | null {
    return this.entries.get(cancelKeyId(pid, key)) ?? null;
  }

  /** A worker exited: its sessions are gone with it. Returns how many keys were dropped. */
  dropWorker(workerId: number): number {
    const ids = this.byWorker.get(workerId);
    if (!ids) return 0;
    const n = ids.size;
    for (const id of [...ids]) this.deleteId(id);
    this.byWorker.delete(workerId);
    return n;
  }

  stats(): CancelKeyMapStats {
    return { size: this.entries.size, evicted: this.evicted };
  }

  private deleteId(id: string): void {
    const owner = this.entries.get(id);
    if (!owner) return;
    this.entries.delete(id);
    const ids = this.byWorker.get(owner.workerId);
    ids?.delete(id);
    if (ids && ids.size === 0) this.byWorker.delete(owner.workerId);
  }
}
