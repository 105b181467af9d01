// The Prometheus exporter: owns one registry and feeds the metrics of metrics.ts from three
// places:
//   - views (observeView): member role and lag gauges, generation, leader changes, outages;
//   - backend states (observeBackendStates, computed once by the Router for the stats page
//     too): the per-listener up/state gauges;
//   - probes (observeProbe, Discovery's onProbe hook): latency histogram, failures;
//   - the data path's traffic counters, read at scrape time (sampled metrics).
//
// Why the data path is read rather than pushing into prom-client: it already keeps plain-number
// counters for the stats page (sessions/traffic.ts), a few bumps per session and none per
// chunk. Pushing the same events into prom-client too would add label hashing per event for
// numbers we already have. At scrape time, counters are reset and set to those absolute,
// monotonic totals, so /stats and /metrics agree by construction. In cluster mode the primary
// process can feed the same `traffic()` merged from its workers.
import { Registry } from 'prom-client';
import type { DiscoveryErrorSite } from '../discovery/discovery.js';
import type { ProbeEvent } from '../discovery/prober.js';
import type { ClusterView, EtcdStatus } from '../view/cluster-view.js';
import type { BackendState } from '../http/types.js';
import type { RefusalReason } from '../sessions/close-reason.js';
import type { ListenerTraffic, RelayReport } from '../sessions/types.js';
import { pauseOf, type PausedListeners } from '../routing/pause.js';
import { INITIAL_LEADER_HISTORY, leaderStep, nextLeaderHistory, noPrimaryMsTotal, type LeaderHistoryState, type LeaderStep } from './leader-history.js';
import { declareMetrics, type Metrics } from './metrics.js';
import { backendKey } from './stats-snapshot.js';

/** What the exporter reads at scrape time. */
export interface MetricsSources {
  /** The configured listeners' names (exported before their first client; follows reloads). */
  listeners(): readonly string[];
  /** Per listener, CancelRequests by outcome included (ListenerTraffic.cancels). */
  traffic(): Readonly<Record<string, ListenerTraffic>>;
  /** Live etcd status (null in static mode). */
  etcd(): EtcdStatus | null;
  /** ssl: terminate listeners: their certificate's notAfter, epoch seconds. */
  tlsCertExpiry?(): Readonly<Record<string, number>>;
  /** Worker processes replaced after a crash (cluster mode; 0 otherwise). */
  workerRespawns(): number;
  /** The relay engine of each data-path process, by process id. */
  relayEngines(): Readonly<Record<string, RelayReport>>;
  /** The operator's paused listeners (issue 13); absent: none. */
  paused?(): PausedListeners;
}

export interface RouterMetricsOptions {
  readonly version: string;
  /** Default: a new Registry of its own. */
  readonly register?: Registry;
  /** Export the etcd metrics (default true: etcd mode). */
  readonly etcd?: boolean;
  /** process_* and nodejs_* metrics (default true). */
  readonly processMetrics?: boolean;
  /** Clock (epoch ms) for the running no-primary time at scrape. */
  readonly now?: () => number;
}

const STATES: readonly BackendState[] = ['UP', 'DOWN', 'DRAIN', 'MAINT'];
/** Both engines are exported, the one not in use at 0, so an alert can watch for a fallback to js. */
const RELAY_ENGINES: readonly RelayReport['engine'][] = ['native', 'js'];
/** Refusal reasons exported at 0 from the start, so rate() and alerts see their first one. */
const KNOWN_REFUSALS: readonly RefusalReason[] = ['no_backend', 'queue_timeout'];
/** Discovery's guarded callbacks, exported at 0 so an alert on increase() sees the first one. */
const DISCOVERY_ERROR_SITES: readonly DiscoveryErrorSite[] = ['derive', 'probe_hook', 'etcd_change', 'probe_round', 'etcd_source'];

export class RouterMetrics {
  readonly register: Registry;
  private readonly m: Metrics;
  private readonly now: () => number;
  private sources: MetricsSources | null = null;
  private history: LeaderHistoryState = INITIAL_LEADER_HISTORY;
  private view: ClusterView | null = null;
  private sampling = false;

  constructor(opts: RouterMetricsOptions) {
    this.register = opts.register ?? new Registry();
    this.now = opts.now ?? Date.now;
    this.m = declareMetrics({
      register: this.register,
      version: opts.version,
      ...(opts.processMetrics === undefined ? {} : { processMetrics: opts.processMetrics }),
      ...(opts.etcd === undefined ? {} : { etcd: opts.etcd }),
      sample: () => this.sampleOncePerScrape(),
    });
    for (const where of DISCOVERY_ERROR_SITES) this.m.discoveryErrors.inc({ where }, 0);
  }

  /** A discovery callback threw and was caught (Discovery's onCallbackError hook). */
  observeDiscoveryError(where: DiscoveryErrorSite): void {
    this.m.discoveryErrors.inc({ where });
  }

  /** Where scrape-time values come from (the data path, discovery). */
  bind(sources: MetricsSources): void {
    this.sources = sources;
  }

  /**
   * Takes every published view, in order (older generations are ignored); returns what it did
   * to the leader history (null: ignored). `heldTotal`: held_total of the primary listeners now;
   * `holds`: whether any listener holds new sessions for a switchover (nextLeaderHistory).
   */
  observeView(view: ClusterView, now: number, heldTotal = 0, holds = true): LeaderStep | null {
    if (this.view && view.generation <= this.view.generation) return null;
    this.view = view;
    const prev = this.history;
    this.history = nextLeaderHistory(prev, view, now, heldTotal, holds);
    const step = leaderStep(prev, this.history);
    if (step.leaderChanged) this.m.leaderChanges.inc();
    if (step.outageEndedMs !== null) this.m.outageDuration.observe(step.outageEndedMs / 1000);
    const ended = step.switchoverEnded;
    if (ended && step.switchoverOutcome) {
      this.m.switchoverHold.observe((ended.held_ms ?? 0) / 1000);
      this.m.switchovers.inc({ outcome: step.switchoverOutcome });
    }
    this.m.primaryConfirmed.set(view.primary === null ? 0 : 1);
    this.m.viewGeneration.set(view.generation);
    const { backendRole, backendReplicationLag } = this.m;
    // Reset first: members that left the view must not linger with their last value.
    backendRole.reset();
    backendReplicationLag.reset();
    for (const member of view.members) {
      backendRole.set({ backend: member.name, role: member.role }, 1);
      if (member.lag_bytes !== null) backendReplicationLag.set({ backend: member.name }, member.lag_bytes);
    }
    return step;
  }

  /**
   * The up/state gauges of every (listener, member) pair: `states` is keyed by backendKey() and
   * holds every pair of `listeners` × the view's members (stats-snapshot.ts backendStates()).
   * Pairs missing from it (a removed listener, a member that left) disappear.
   */
  observeBackendStates(listeners: readonly string[], view: ClusterView, states: Readonly<Record<string, BackendState>>): void {
    const { backendUp, backendState } = this.m;
    backendUp.reset();
    backendState.reset();
    for (const listener of listeners) {
      for (const member of view.members) {
        const state = states[backendKey(listener, member.name)];
        if (state === undefined) continue;
        backendUp.set({ listener, backend: member.name }, state === 'UP' ? 1 : 0);
        for (const s of STATES) backendState.set({ listener, backend: member.name, state: s }, s === state ? 1 : 0);
      }
    }
  }

  observeProbe(event: ProbeEvent): void {
    const labels = { backend: event.member, check: event.check };
    this.m.probeDuration.observe(labels, event.ms / 1000);
    // inc by 0 on success: the series exists from the first probe on.
    this.m.probeFailures.inc(labels, event.ok ? 0 : 1);
  }

  leaderHistory(): LeaderHistoryState {
    return this.history;
  }

  text(): Promise<string> {
    return this.register.metrics();
  }

  contentType(): string {
    return this.register.contentType;
  }

  /** Every sampled metric calls this from its collect hook; only the first call of a scrape works. */
  private sampleOncePerScrape(): void {
    if (this.sampling) return;
    this.sampling = true;
    // A registry reads all its metrics in one synchronous loop, so the flag spans one scrape.
    queueMicrotask(() => {
      this.sampling = false;
    });
    this.sample();
  }

  private sample(): void {
    const m = this.m;
    m.noPrimarySeconds.reset();
    m.noPrimarySeconds.inc(noPrimaryMsTotal(this.history, this.now()) / 1000);
    const src = this.sources;
    const etcd = src ? src.etcd() : (this.view?.etcd ?? null);
    m.etcdConnected.reset();
    m.etcdLastResync.reset();
    if (etcd) {
      m.etcdConnected.set(etcd.connected ? 1 : 0);
      if (etcd.last_resync_at !== null) m.etcdLastResync.set(etcd.last_resync_at / 1000);
    }
    this.sampleTraffic(src?.listeners() ?? [], src?.traffic() ?? {});
    m.tlsCertExpiry.reset();
    for (const [listener, seconds] of Object.entries(src?.tlsCertExpiry?.() ?? {})) m.tlsCertExpiry.set({ listener }, seconds);
    m.workerRespawns.reset();
    m.workerRespawns.inc(src?.workerRespawns() ?? 0);
    const engines = Object.values(src?.relayEngines() ?? {}).map((r) => r.engine);
    for (const engine of RELAY_ENGINES) m.relayEngine.set({ engine }, engines.filter((e) => e === engine).length);
    this.samplePaused(src?.listeners() ?? [], src?.paused?.() ?? {});
  }

  private samplePaused(listeners: readonly string[], paused: PausedListeners): void {
    this.m.listenerPaused.reset();
    for (const listener of listeners) this.m.listenerPaused.set({ listener }, pauseOf(paused, listener) ? 1 : 0);
  }

  private sampleTraffic(listeners: readonly string[], traffic: Readonly<Record<string, ListenerTraffic>>): void {
    const m = this.m;
    const all = [
      m.listenerCurrentSessions, m.listenerSessions, m.listenerQueuedSessions, m.listenerHeldSessions, m.listenerHeldTotal, m.listenerRefusals, m.listenerClosedSessions,
      m.listenerInBytes, m.listenerOutBytes, m.cancelRequests, m.backendCurrentSessions, m.backendMaxSessions,
      m.backendSessions, m.backendConnectErrors, m.backendKilledSessions, m.backendInBytes, m.backendOutBytes,
    ];
    for (const metric of all) metric.reset();
    // Configured listeners are exported even before their first client.
    const names = new Set([...listeners, ...Object.keys(traffic)]);
    for (const listener of names) {
      const t = Object.hasOwn(traffic, listener) ? traffic[listener] : undefined;
      const L = { listener };
      m.listenerCurrentSessions.set(L, t?.current ?? 0);
      m.listenerSessions.inc(L, t?.total ?? 0);
      m.listenerQueuedSessions.set(L, t?.queued ?? 0);
      m.listenerHeldSessions.set(L, t?.held ?? 0);
      m.listenerHeldTotal.inc(L, t?.held_total ?? 0);
      m.listenerInBytes.inc(L, t?.bytes_in ?? 0);
      m.listenerOutBytes.inc(L, t?.bytes_out ?? 0);
      const refusals = { ...Object.fromEntries(KNOWN_REFUSALS.map((r) => [r, 0])), ...t?.refusals };
      for (const [reason, n] of Object.entries(refusals)) m.listenerRefusals.inc({ listener, reason }, n);
      for (const [reason, n] of Object.entries(t?.closed ?? {})) m.listenerClosedSessions.inc({ listener, reason }, n);
      for (const [outcome, n] of Object.entries(t?.cancels ?? {})) m.cancelRequests.inc({ listener, outcome }, n);
      for (const [backend, b] of Object.entries(t?.backends ?? {})) {
        const LB = { listener, backend };
        m.backendCurrentSessions.set(LB, b.current);
        m.backendMaxSessions.set(LB, b.max);
        m.backendSessions.inc(LB, b.total);
        m.backendConnectErrors.inc(LB, b.connect_errors);
        m.backendInBytes.inc(LB, b.bytes_in);
        m.backendOutBytes.inc(LB, b.bytes_out);
        for (const [reason, n] of Object.entries(b.killed)) m.backendKilledSessions.inc({ listener, backend, reason }, n);
      }
    }
  }
}
