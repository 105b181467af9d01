// Discovery: owns the etcd mirror (or the static member list) and the prober, re-derives the
// ClusterView on every etcd change and probe result, and publishes a new frozen view
// (generation + 1) only when something consumers care about changed (view-diff.ts).
//
// The fast path of a switchover: the `leader` PUT (or DELETE on lease expiry) arrives on the
// watch → the old and new holders are probed at once → the new holder is confirmed by its first
// /primary 200 sent after we saw the key, re-probed every checks.fast_interval until then.
import type { Config } from '../config/types.js';
import { describeError, errorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { staticApiBase } from './patroni-member.js';
import { collectMembers, deriveView, leaderKeyValue } from './derive-view.js';
import { parseFailoverKey, syncStandbys } from './maintenance-keys.js';
import { EtcdSource, type EtcdSnapshot } from './etcd-source.js';
import { Prober, type ProbeEvent, type ProbeTarget } from './prober.js';
import { emptyView, type ClusterView, type EtcdStatus } from '../view/cluster-view.js';
import { checkTransitions, contentKey } from './view-diff.js';

export interface DiscoveryOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Every finished probe (latency histogram hook). */
  readonly onProbe?: (event: ProbeEvent) => void;
  /** A callback of discovery threw (a bug), was logged and survived (pgrouter_discovery_errors_total). */
  readonly onCallbackError?: (where: DiscoveryErrorSite) => void;
  readonly now?: () => number;
  /**
   * Generation to count on from (default 0). A Discovery that replaces another one on reload
   * continues its numbering, because consumers ignore views that are not newer than theirs.
   */
  readonly generationBase?: number;
}

/** When the leader key or the published primary changed (tests compare these with Patroni). */
export interface TimelineEntry {
  readonly kind: 'leader_key' | 'primary';
  /** Epoch ms (Date.now()) when we saw / published it. */
  readonly at: number;
  readonly from: string | null;
  readonly to: string | null;
  /** View generation for 'primary' entries; null for 'leader_key'. */
  readonly generation: number | null;
  readonly reason: string;
}

const TIMELINE_MAX = 200;

/**
 * Where a callback threw: a probe result or the tick re-deriving the view (`derive`), the probe
 * hook (metrics), an etcd change, the prober's or the etcd source's own loop. Each is caught,
 * logged with its code and counted; the process runs on with the last good view (issue 10).
 */
export type DiscoveryErrorSite = 'derive' | 'probe_hook' | 'etcd_change' | 'probe_round' | 'etcd_source';

export class Discovery {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly onCallbackError: ((where: DiscoveryErrorSite) => void) | undefined;
  private readonly mode: 'etcd' | 'static';
  private readonly prober: Prober;
  private readonly etcd: EtcdSource | null;
  private etcdSnap: EtcdSnapshot | null = null;
  private leaderSince: number | null = null;
  private lastLeader: string | null = null;
  /** The `failover` and `sync` keys as last seen (raw), and since when (switchover intent). */
  private lastFailover: string | undefined = undefined;
  private failoverSince: number | null = null;
  private lastSync: ReadonlySet<string> = new Set();
  private view: ClusterView;
  /** contentKey() of the last published view. */
  private viewKey: string | null = null;
  private readonly listeners = new Set<(view: ClusterView) => void>();
  private readonly events: TimelineEntry[] = [];
  private readonly ignoredLogged = new Map<string, string>();
  private tick: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;

  constructor(opts: DiscoveryOptions) {
    this.config = opts.config;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    const cluster = opts.config.cluster;
    this.mode = cluster.etcd ? 'etcd' : 'static';
    this.view = Object.freeze({ ...emptyView(cluster.scope, this.mode), generation: opts.generationBase ?? 0 });
    const lagsOf = (role: string) => opts.config.listeners.filter((l) => l.role === role).map((l) => l.max_lag);
    this.onCallbackError = opts.onCallbackError;
    const onProbe = opts.onProbe;
    this.prober = new Prober({
      checks: opts.config.checks,
      replicaLags: lagsOf('replica'),
      syncLags: lagsOf('sync'),
      readOnlyLags: lagsOf('read_only'),
      log: this.log,
      onResult: () => this.guarded('derive', () => this.refresh()),
      ...(onProbe ? { onProbe: (e: ProbeEvent) => this.guarded('probe_hook', () => onProbe(e)) } : {}),
      onError: (err) => this.callbackFailed('probe_round', err),
      now: this.now,
    });
    this.etcd = cluster.etcd
      ? new EtcdSource({
          etcd: cluster.etcd,
          prefix: `${cluster.namespace}${cluster.scope}/`,
          log: this.log,
          now: this.now,
          onChange: (snap, changed) => this.guarded('etcd_change', () => this.onEtcd(snap, changed)),
          onError: (err) => this.callbackFailed('etcd_source', err),
        })
      : null;
  }

  /** Starts watching and probing; returns at once (the first views follow within ms). */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    this.prober.start();
    if (this.etcd) {
      this.etcd.start();
    } else {
      const targets: ProbeTarget[] = (this.config.cluster.members ?? []).map((m) => ({ name: m.name, api: staticApiBase(m.api) }));
      this.prober.setTargets(targets);
    }
    this.refresh();
    // Staleness is a function of time: re-derive even when nothing reports.
    this.tick = setInterval(() => this.guarded('derive', () => this.refresh()), Math.max(100, Math.floor(this.config.checks.interval / 2)));
    this.tick.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    await Promise.all([this.etcd?.close(), this.prober.close()]);
    this.listeners.clear();
  }

  /** The last published view. */
  current(): ClusterView {
    return this.view;
  }

  /**
   * The etcd connection as of now (null in static mode). Fresher than the view's copy: views are
   * not republished for a watchdog resync or a new revision alone (view-diff.ts).
   */
  etcdStatus(): EtcdStatus | null {
    if (this.mode !== 'etcd') return null;
    const snap = this.etcdSnap;
    if (!snap) return { connected: false, last_resync_at: null, revision: null, error: 'connecting' };
    return { connected: snap.connected, last_resync_at: snap.lastResyncAt, revision: snap.revision, error: snap.error };
  }

  /** Called with every newly published view (not with the current one). Returns unsubscribe. */
  subscribe(listener: (view: ClusterView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Leader-key and primary changes, oldest first (bounded). */
  timeline(): readonly TimelineEntry[] {
    return this.events.slice();
  }

  /** Runs a callback; a throw is a bug, logged and counted, and the last good view stays. */
  private guarded(where: DiscoveryErrorSite, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.callbackFailed(where, err);
    }
  }

  private callbackFailed(where: DiscoveryErrorSite, err: unknown): void {
    this.log.error(
      { event: 'discovery_callback_failed', where, code: errorCode(err), error: describeError(err), generation: this.view.generation },
      `discovery callback failed (${where}); keeping the last view`,
    );
    try {
      this.onCallbackError?.(where);
    } catch (hookErr) {
      this.log.error({ event: 'discovery_callback_failed', where: 'error_hook', error: describeError(hookErr) }, 'discovery error hook failed');
    }
  }

  private record(entry: TimelineEntry): void {
    this.events.push(entry);
    if (this.events.length > TIMELINE_MAX) this.events.shift();
  }

  private onEtcd(snap: EtcdSnapshot, changed: readonly string[]): void {
    this.etcdSnap = snap;
    const leader = leaderKeyValue(snap.keys);
    const concerned = new Set<string>();
    if (leader !== this.lastLeader) {
      const from = this.lastLeader;
      this.leaderSince = this.now();
      this.lastLeader = leader;
      const reason = leader === null ? 'leader key deleted' : 'leader key written';
      this.record({ kind: 'leader_key', at: Date.now(), from, to: leader, generation: null, reason });
      this.log.info({ event: 'leader_key', from, to: leader }, reason);
      if (from !== null) concerned.add(from);
      if (leader !== null) concerned.add(leader);
    }
    this.onMaintenanceKeys(snap, concerned);
    const { members, ignored } = collectMembers(snap.keys);
    this.logIgnored(ignored);
    this.prober.setTargets(members.map((m) => ({ name: m.name, api: m.api })));
    for (const key of changed) {
      if (key.startsWith('members/')) concerned.add(key.slice('members/'.length));
    }
    this.prober.probeNow([...concerned]);
    this.refresh();
  }

  /**
   * Patroni's `failover` and `sync` keys (issue 13). A switchover intent is published at once
   * (refresh() right after this, no probe in between: the data path stops sending new RW
   * sessions to the outgoing leader before it demotes). A new sync standby set probes the
   * members that joined or left it, so the /sync checks follow without waiting an interval.
   */
  private onMaintenanceKeys(snap: EtcdSnapshot, concerned: Set<string>): void {
    const raw = snap.keys.get('failover');
    if (raw !== this.lastFailover) {
      this.lastFailover = raw;
      const intent = parseFailoverKey(raw);
      const was = this.failoverSince !== null;
      this.failoverSince = intent ? this.now() : null;
      if (intent) {
        const at = intent.scheduledAt === null ? null : new Date(intent.scheduledAt).toISOString();
        this.log.info({ event: 'switchover_announced', from: intent.from, to: intent.to, scheduled_at: at }, at ? `switchover scheduled at ${at}` : 'switchover announced');
        if (intent.to !== null) concerned.add(intent.to);
      } else if (was) {
        this.log.info({ event: 'switchover_cleared' }, 'failover key cleared');
      }
    }
    const sync = syncStandbys(snap.keys.get('sync'), snap.keys.get('config'));
    const changed = [...sync].filter((n) => !this.lastSync.has(n)).concat([...this.lastSync].filter((n) => !sync.has(n)));
    if (changed.length > 0) {
      this.log.info({ event: 'sync_standbys', from: [...this.lastSync], to: [...sync] }, `synchronous standbys: ${[...sync].join(', ') || 'none'}`);
      for (const n of changed) concerned.add(n);
    }
    this.lastSync = sync;
  }

  private logIgnored(ignored: readonly { name: string; reason: string }[]): void {
    const seen = new Set<string>();
    for (const { name, reason } of ignored) {
      seen.add(name);
      if (this.ignoredLogged.get(name) === reason) continue;
      this.ignoredLogged.set(name, reason);
      this.log.warn({ event: 'member_ignored', member: name, reason }, `members/${name} ignored`);
    }
    for (const name of [...this.ignoredLogged.keys()]) if (!seen.has(name)) this.ignoredLogged.delete(name);
  }

  private refresh(): void {
    if (!this.started || this.closed) return;
    const { checks, cluster } = this.config;
    const snap = this.etcdSnap;
    const next = deriveView({
      mode: this.mode,
      scope: cluster.scope,
      etcd: this.mode === 'etcd'
        ? {
            connected: snap?.connected ?? false,
            keys: snap?.keys ?? new Map(),
            revision: snap?.revision ?? null,
            lastResyncAt: snap?.lastResyncAt ?? null,
            error: snap ? snap.error : 'connecting',
            leaderSince: this.leaderSince,
            failoverSince: this.failoverSince,
          }
        : null,
      staticMembers: cluster.members,
      checks: this.prober.records(),
      replicaKeys: this.prober.replicaKeys(),
      syncKeys: this.prober.keysOf('sync'),
      readOnlyKeys: this.prober.keysOf('read_only'),
      onEtcdLoss: cluster.on_etcd_loss,
      fall: checks.fall,
      staleAfterMs: checks.interval * 2 + checks.timeout,
      now: this.now(),
      generation: this.view.generation + 1,
    });
    // Until the holder is confirmed, /primary is re-probed every fast_interval.
    const unconfirmed = next.leader_key !== null && next.primary !== next.leader_key;
    this.prober.setFast(unconfirmed && next.leader_key !== null ? [next.leader_key] : []);
    // Only a change of content is published; the last one's key is kept, not rebuilt per probe.
    const key = contentKey(next);
    if (this.view.generation > 0 && key === this.viewKey) return;
    this.viewKey = key;
    this.publish(next);
  }

  private publish(next: ClusterView): void {
    const prev = this.view;
    this.view = next;
    for (const t of checkTransitions(prev, next)) {
      this.log.info({ event: t.up ? 'member_up' : 'member_down', member: t.member, check: t.check, reason: t.reason }, `${t.member} ${t.check} ${t.up ? 'up' : 'down'}`);
    }
    if (prev.primary !== next.primary) {
      this.record({ kind: 'primary', at: Date.now(), from: prev.primary, to: next.primary, generation: next.generation, reason: next.primary_reason });
      this.log.info(
        { event: 'leader_change', from: prev.primary, to: next.primary, reason: next.primary_reason, generation: next.generation },
        next.primary ? `primary is ${next.primary}` : 'no confirmed primary',
      );
    }
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (err) {
        this.log.error({ event: 'view_listener_failed', error: describeError(err) }, 'view listener threw');
      }
    }
  }
}
