// Mirror of Patroni's keys under <namespace><scope>/ in etcd: range read + watch + resync.
//
// A range read gives every key and the revision R; the watch then starts at R+1, so no event
// is lost between the two. Watches can go quiet without an error (etcd3 npm issues #72/#78; no
// require-leader on a partitioned member), so the whole prefix is re-read, and the watch
// re-created from the new revision, after any watch trouble (disconnect, cancel, compaction,
// creation timeout) and on a watchdog timer (etcd.resync_interval).
//
// Lease keep-alives produce no events; when a lease expires etcd deletes `leader` and
// `members/<name>`, and those delete events are our fast failure signal: they are applied and
// reported at once.
//
// "connected" means "we can read etcd": a broken watch is retried at once with a range read,
// and only a failing read marks etcd unreachable (then retries back off 250 ms → 5 s).
//
// A resync detaches the running watch before it reads: an event the old watch delivered while
// the read was in flight (a switchover at R+1) would otherwise be overwritten by the read's
// older result (R), and the view would go B → none → B, killing the sessions just opened on B
// (issue 10, defect 2). The new watch starts at R+1, so no event is lost, and the mirror's
// revision never goes backwards (a read older than it is dropped).
//
// Watches require a leader (gRPC metadata `hasleader: true`, etcd's clientv3.WithRequireLeader,
// as vip-manager uses): a member that lost quorum cancels the watch ("etcdserver: no leader")
// instead of keeping it open and silent, so the resync and the etcd-loss policy start at once.
import { Etcd3, type IRangeResponse, type IWatchResponse, type Watcher } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { exponentialDelay } from '../backoff.js';
import { PgrError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { etcdClientOptions } from './etcd-client.js';

export interface EtcdSnapshot {
  readonly connected: boolean;
  /** Keys relative to the prefix. Never mutated after it was handed out. */
  readonly keys: ReadonlyMap<string, string>;
  readonly revision: string | null;
  readonly lastResyncAt: number | null;
  readonly error: string | null;
}

export interface EtcdSourceOptions {
  readonly etcd: EtcdConfig;
  /** <namespace><scope>/ */
  readonly prefix: string;
  readonly log: Logger;
  readonly onChange: (snapshot: EtcdSnapshot, changedKeys: readonly string[]) => void;
  /**
   * onChange or the source itself threw (a bug). etcd3 rethrows what a watch handler throws,
   * which would end the process; it is reported here instead (default: logged), and the mirror
   * is re-read, since an event that failed halfway may have left it wrong.
   */
  readonly onError?: (err: unknown) => void;
  readonly now?: () => number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * Test seam: awaited after a range read returned and before its result is applied, told
   * whether a watch was attached meanwhile. Tests hold a read here to force the race of a
   * newer watch event against it (issue 10).
   */
  readonly afterRangeRead?: (info: { readonly watching: boolean }) => Promise<void>;
}

/** The exclusive end of a prefix range: the prefix with its last byte incremented. */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all-0xff prefix: to the end of the keyspace
}

/** Keys whose value differs between two maps (added, changed or removed). */
export function changedKeys(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(k);
  for (const k of before.keys()) if (!after.has(k)) out.push(k);
  return out;
}

export class EtcdSource {
  private readonly opts: EtcdSourceOptions;
  private readonly now: () => number;
  private readonly prefixBuf: Buffer;
  private client: Etcd3 | null = null;
  private keys: ReadonlyMap<string, string> = new Map();
  private connected = false;
  private revision: string | null = null;
  private lastResyncAt: number | null = null;
  private error: string | null = null;
  private watcher: Watcher | null = null;
  private resyncing = false;
  private pendingReason: string | null = null;
  /** Consecutive failures since the last healthy watch; drives the backoff. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private createTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: EtcdSourceOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.prefixBuf = Buffer.from(opts.prefix);
  }

  start(): void {
    if (this.client) return;
    this.client = new Etcd3(etcdClientOptions(this.opts.etcd));
    this.watchdog = setInterval(() => {
      if (this.retryTimer === null) this.requestResync('watchdog');
    }, this.opts.etcd.resync_interval);
    this.watchdog.unref();
    this.requestResync('start');
  }

  snapshot(): EtcdSnapshot {
    return {
      connected: this.connected,
      keys: this.keys,
      revision: this.revision,
      lastResyncAt: this.lastResyncAt,
      error: this.error,
    };
  }

  /** Re-read the prefix and re-create the watch (coalesced with one already running). */
  requestResync(reason: string): void {
    if (this.closed || !this.client) return;
    if (this.resyncing) {
      this.pendingReason = reason;
      return;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.resyncing = true;
    void this.resync(reason)
      .catch((err: unknown) => this.reportBug(err))
      .finally(() => {
        this.resyncing = false;
        const pending = this.pendingReason;
        this.pendingReason = null;
        if (pending !== null && this.retryTimer === null) this.requestResync(pending);
      });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.retryTimer, this.createTimer]) if (t) clearTimeout(t);
    if (this.watchdog) clearInterval(this.watchdog);
    const w = this.watcher;
    this.watcher = null;
    // Detaching the last watcher stops etcd3's own reconnect loop; a dead stream may never
    // answer the cancel, so do not wait for it longer than one request.
    if (w) await Promise.race([this.cancelWatcher(w), new Promise((r) => setTimeout(r, this.opts.etcd.dial_timeout).unref())]);
    this.client?.close();
    this.client = null;
  }

  private async resync(reason: string): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.detachWatcher();
    let res: IRangeResponse;
    try {
      res = await client.kv.range({ key: this.prefixBuf, range_end: prefixRangeEnd(this.prefixBuf) });
    } catch (err) {
      this.fail(new PgrError('PGR_ERR_ETCD', `range read of ${this.opts.prefix} failed`, { cause: err }), true);
      return;
    }
    if (this.opts.afterRangeRead) await this.opts.afterRangeRead({ watching: this.watcher !== null });
    if (this.closed) return;
    if (this.revision !== null && BigInt(res.header.revision) < BigInt(this.revision)) {
      // Older than what the mirror already holds (a lagging member answered): keep the newer
      // state and watch on from it.
      this.opts.log.warn({ event: 'etcd_resync_stale', reason, read: res.header.revision, revision: this.revision }, 'etcd read older than the mirror, dropped');
      this.replaceWatcher(BigInt(this.revision) + 1n);
      return;
    }
    const next = new Map<string, string>();
    for (const kv of res.kvs) next.set(this.relative(kv.key), kv.value.toString('utf8'));
    const changed = changedKeys(this.keys, next);
    const wasConnected = this.connected;
    this.keys = next;
    this.revision = res.header.revision;
    this.lastResyncAt = this.now();
    this.error = null;
    this.connected = true;
    if (!wasConnected) {
      this.opts.log.info({ event: 'etcd_connected', reason, revision: this.revision, keys: next.size }, 'etcd connected');
    } else {
      this.opts.log.debug({ event: 'etcd_resync', reason, revision: this.revision, changed: changed.length }, 'etcd resync');
    }
    this.replaceWatcher(BigInt(res.header.revision) + 1n);
    this.notify(changed);
  }

  /** Tells the owner; a throw there is a bug: reported, and it cannot take the watch down. */
  private notify(changed: readonly string[]): void {
    try {
      this.opts.onChange(this.snapshot(), changed);
    } catch (err) {
      this.reportBug(err);
    }
  }

  private reportBug(err: unknown): void {
    if (this.opts.onError) this.opts.onError(err);
    else this.opts.log.error({ event: 'etcd_source_failed', error: describeError(err) }, 'etcd source callback failed');
  }

  /** Stops applying the current watch's events and cancels it (its late events are ignored). */
  private detachWatcher(): void {
    const old = this.watcher;
    this.watcher = null;
    if (this.createTimer) clearTimeout(this.createTimer);
    this.createTimer = null;
    if (old) void this.cancelWatcher(old);
  }

  private replaceWatcher(startRevision: bigint): void {
    const client = this.client;
    if (!client) return;
    this.detachWatcher();
    // watcher() (not create()) so every handler is attached before any event can fire.
    const w = client.watch().prefix(this.opts.prefix).startRevision(startRevision.toString()).watcher();
    this.watcher = w;
    const current = () => this.watcher === w && !this.closed;
    w.on('connected', () => {
      if (!current()) return;
      if (this.createTimer) clearTimeout(this.createTimer);
      this.createTimer = null;
      this.failures = 0;
    });
    w.on('data', (res: IWatchResponse) => {
      if (!current()) return;
      try {
        this.apply(res);
      } catch (err) {
        // An event that failed halfway may have left the mirror wrong: read it again.
        this.reportBug(err);
        this.requestResync('apply failed');
      }
    });
    // Listeners stay attached on replaced watchers: an 'error' without a listener would throw.
    w.on('disconnected', (err) => this.watchBroken(w, new PgrError('PGR_ERR_ETCD', 'watch disconnected', { cause: err })));
    w.on('error', (err) => this.watchBroken(w, new PgrError('PGR_ERR_ETCD', 'watch canceled', { cause: err })));
    w.on('end', () => this.watchBroken(w, new PgrError('PGR_ERR_ETCD', 'watch ended')));
    if (this.createTimer) clearTimeout(this.createTimer);
    this.createTimer = setTimeout(() => {
      this.createTimer = null;
      if (current() && w.id === null) this.watchBroken(w, new PgrError('PGR_ERR_ETCD', 'watch not created within dial_timeout'));
    }, this.opts.etcd.dial_timeout);
    this.createTimer.unref();
  }

  /**
   * The current watch reported trouble. Drop it at once: etcd3 would otherwise keep
   * reconnecting it on its own backoff and report every attempt; one resync replaces it.
   */
  private watchBroken(w: Watcher, err: PgrError): void {
    if (this.watcher !== w || this.closed) return;
    this.watcher = null;
    if (this.createTimer) clearTimeout(this.createTimer);
    this.createTimer = null;
    void this.cancelWatcher(w);
    this.fail(err, false);
  }

  private async cancelWatcher(w: Watcher): Promise<void> {
    try {
      await w.cancel();
    } catch (err) {
      this.opts.log.debug({ event: 'etcd_watch_cancel_failed', error: describeError(err) }, 'watch cancel failed');
    }
  }

  private apply(res: IWatchResponse): void {
    if (res.header?.revision) this.revision = res.header.revision;
    if (!res.events || res.events.length === 0) return; // progress notification
    const next = new Map(this.keys);
    const changed: string[] = [];
    for (const ev of res.events) {
      const key = this.relative(ev.kv.key);
      if (ev.type === 'Delete') next.delete(key);
      else next.set(key, ev.kv.value.toString('utf8'));
      changed.push(key);
    }
    this.keys = next;
    this.notify(changed);
  }

  /**
   * A failed read marks etcd unreachable. A broken watch only triggers a re-read: at once the
   * first time, with backoff when it keeps failing.
   */
  private fail(err: PgrError, readFailed: boolean): void {
    if (this.closed) return;
    // A resync is already running or scheduled; it will replace the watch anyway.
    if (!readFailed && (this.resyncing || this.retryTimer !== null)) return;
    const message = `${err.message}: ${describeError(err.cause ?? err)}`;
    const delay = this.backoffDelay();
    this.failures++;
    if (readFailed) {
      const wasConnected = this.connected;
      this.connected = false;
      this.error = message;
      if (wasConnected) {
        this.opts.log.warn({ event: 'etcd_disconnected', error: message, retry_ms: delay }, 'etcd unreachable');
        this.notify([]);
      } else {
        this.opts.log.debug({ event: 'etcd_retry', error: message, retry_ms: delay }, 'etcd still unreachable');
      }
    } else {
      this.opts.log.info({ event: 'etcd_watch_broken', error: message, retry_ms: delay }, 'etcd watch broken, re-reading');
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.requestResync(readFailed ? 'retry' : 'watch trouble');
    }, delay);
    this.retryTimer.unref();
  }

  private backoffDelay(): number {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 250, maxMs: 5000 };
    // Jitter: routers that lost the same etcd do not come back in step.
    return Math.round(exponentialDelay(this.failures, initialMs, maxMs) * (0.8 + Math.random() * 0.2));
  }

  private relative(key: Buffer): string {
    const k = key.toString('utf8');
    return k.startsWith(this.opts.prefix) ? k.slice(this.opts.prefix.length) : k;
  }
}
