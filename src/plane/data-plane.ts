// The data plane: whatever runs discovery and the data path for the Router. Two layouts share
// this one interface, so the Router (metrics, admin states, the stats snapshot) never asks
// which one it has:
//   - LocalPlane (plane/local-plane.ts): workers: 1, Discovery and one DataPath in this process;
//   - ClusterPlane (cluster/cluster-plane.ts): workers > 1, the DataPath in N workers.
// What both layouts share lives next to this interface: the reload use case (reload.ts), a
// reload's replacement Discovery (settle.ts, view-feed.ts).
import type { Config, HostPort } from '../config/types.js';
import type { Discovery, DiscoveryErrorSite } from '../discovery/discovery.js';
import type { ProbeEvent } from '../discovery/prober.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { ListenerTraffic, RelayReport, SessionInfo } from '../sessions/types.js';
import type { Registry } from 'prom-client';
import type { AdminStates } from '../routing/eligible.js';
import type { PausedListeners } from '../routing/pause.js';
import type { KillReason } from '../routing/kill.js';

/** What the Router hands a plane: it observes every probe and every view it routes with. */
export interface PlaneHooks {
  readonly onProbe?: (event: ProbeEvent) => void;
  readonly onView?: (view: ClusterView) => void;
  /** A discovery callback threw, was logged and survived (RouterMetrics.observeDiscoveryError). */
  readonly onDiscoveryError?: (where: DiscoveryErrorSite) => void;
}

export interface DataPlane {
  /**
   * The running config, and its one owner: a reload replaces it here once applied. The Router,
   * the HTTP routes and the metrics read it from the plane; the data path and discovery keep
   * only what they run with (listeners, timeouts; cluster and checks).
   */
  readonly config: Config;
  /** The Discovery whose views the newest listeners route with (stats, /ready, metrics). */
  readonly discovery: Discovery;
  start(): Promise<void>;
  /** Stop accepting, drain up to graceMs, close everything. */
  close(opts: { graceMs?: number }): Promise<void>;
  /** Apply a validated config without dropping established sessions (SIGHUP). */
  reload(next: Config): Promise<{ ok: boolean; error?: string }>;
  addresses(): Record<string, HostPort>;
  /** Per listener: sessions, refusals, closes, backends, and CancelRequests by outcome. */
  traffic(): Record<string, ListenerTraffic>;
  /** ssl: terminate listeners: the notAfter of the certificate each presents now (epoch seconds). */
  tlsCertExpiry(): Record<string, number>;
  /** Data-path worker processes that exited unasked and were replaced (always 0 with workers: 1). */
  workerRespawns(): number;
  /** Sessions per data-path process id. */
  workerSessions(): Record<string, number>;
  /** The relay engine of each data-path process, by process id (one engine per process). */
  relayEngines(): Record<string, RelayReport>;
  setAdminStates(states: AdminStates): void;
  /** The operator's paused listeners (issue 13), for every data path, present and future. */
  setPausedListeners(paused: PausedListeners): void;
  killBackendSessions(member: string, reason: KillReason): Promise<number>;
  sessions(): Promise<SessionInfo[]>;
  /** Prometheus text: the Router's registry (`primary`), plus whatever the plane's processes add. */
  metricsText(primary: Registry): Promise<string>;
}
