// Session registry: every relayed session, its backend, its cancel key, and the kill switch
// that a new ClusterView pulls (HAProxy on-marked-down shutdown-sessions, done per view).
import type { ListenerConfig } from '../config/types.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { Logger } from '../log.js';
import { cancelKeyId, type BackendKey } from '../protocol/cancel-key.js';
import { sessionsToKill, type KillReason } from '../routing/kill.js';
import type { LiveBytes, SessionInfo } from './types.js';

export interface SessionRecord {
  readonly id: string;
  readonly listener: string;
  /** Member name of the backend. */
  readonly backend: string;
  readonly backendHost: string;
  readonly backendPort: number;
  /** Replica listener session placed on the primary by `fallback: primary`. */
  readonly viaFallback: boolean;
  /** "ip:port" of the client. */
  readonly clientAddress: string;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Azure Private Link's LINKID from the client's PROXY v2 header, or null. */
  readonly linkId: number | null;
  /** Client → server bytes; the session updates it while relaying. */
  bytesIn: number;
  /** Server → client bytes. */
  bytesOut: number;
  /**
   * Bytes the native relay moved so far, read live from its counters; null unless it relays
   * the session. They are added to bytesIn/bytesOut when its relay ends (liveBytesIn/Out).
   */
  relayBytes: LiveBytes | null;
  /** Learned from BackendKeyData; null for TLS passthrough sessions and until startup ends. */
  cancelKey: BackendKey | null;
  /**
   * The key the client was given: cancelKey, or with cancel.rewrite_keys one pgrouter made
   * (issue 10). Cancels are looked up by it; the backend gets cancelKey.
   */
  clientKey: BackendKey | null;
}

/** A new session's record: nothing counted yet, no cancel key yet. */
export function newSessionRecord(
  id: string,
  listener: string,
  member: { readonly name: string; readonly host: string; readonly port: number },
  viaFallback: boolean,
  clientAddress: string,
  startedAt: number,
  linkId: number | null = null,
): SessionRecord {
  const { name: backend, host: backendHost, port: backendPort } = member;
  return { id, listener, backend, backendHost, backendPort, viaFallback, clientAddress, startedAt, linkId, bytesIn: 0, bytesOut: 0, relayBytes: null, cancelKey: null, clientKey: null };
}

/** Client → server bytes so far, the native relay's live count included. */
export function liveBytesIn(r: { readonly bytesIn: number; readonly relayBytes?: LiveBytes | null }): number {
  return r.bytesIn + (r.relayBytes?.bytesIn ?? 0);
}

/** Server → client bytes so far, the native relay's live count included. */
export function liveBytesOut(r: { readonly bytesOut: number; readonly relayBytes?: LiveBytes | null }): number {
  return r.bytesOut + (r.relayBytes?.bytesOut ?? 0);
}

/** A record as the admin API's session list shows it. */
export function sessionInfo(r: SessionRecord): SessionInfo {
  return {
    id: r.id,
    listener: r.listener,
    backend: r.backend,
    backend_address: `${r.backendHost}:${r.backendPort}`,
    client_address: r.clientAddress,
    started_at: r.startedAt,
    bytes_in: liveBytesIn(r),
    bytes_out: liveBytesOut(r),
    ...(r.linkId === null ? {} : { link_id: r.linkId }),
  };
}

export type KillFn = (reason: KillReason) => void;

/**
 * Where the kill rules of a session come from: the listener that accepted it, as it is now.
 * A reload (DataPath.reconfigure) updates the config of a listener it keeps, and its sessions
 * follow the new rules; a listener it removes keeps its original config, and so do the
 * sessions it still relays.
 */
export interface KillScope {
  readonly listener: ListenerConfig;
}

/**
 * Told when a session's cancel key becomes known and when it is gone. Cluster mode reports
 * them to the primary, so a CancelRequest that reaches another worker finds the owner
 * (src/cluster/cancel-key-map.ts). `key` is the key the client holds (record.clientKey); the
 * backend's own is record.cancelKey, the same unless keys are rewritten.
 */
export interface CancelKeyObserver {
  learned(record: SessionRecord, key: BackendKey): void;
  forgotten(key: BackendKey): void;
}

interface Entry {
  readonly record: SessionRecord;
  readonly kill: KillFn;
  /** null: judged by the registry's config for record.listener (tests without listeners). */
  readonly scope: KillScope | null;
}

export class SessionRegistry {
  /** Listener configs by name, for sessions added without a scope; see setListeners. */
  private configs = new Map<string, ListenerConfig>();
  private readonly logger: Logger;
  private readonly byListener = new Map<string, Map<string, Entry>>();
  /** listener → backend → count, kept incrementally for leastconn. */
  private readonly load = new Map<string, Map<string, number>>();
  private readonly byCancelKey = new Map<string, SessionRecord>();
  private total = 0;
  private readonly observer: CancelKeyObserver | null;

  constructor(opts: { listeners: readonly ListenerConfig[]; logger: Logger; cancelKeys?: CancelKeyObserver }) {
    this.logger = opts.logger;
    this.observer = opts.cancelKeys ?? null;
    this.setListeners(opts.listeners);
  }

  /**
   * The configured listener set after a reload. Listeners new to it appear in stats() at once;
   * a listener that is gone stays while it still has sessions (their records keep its name).
   */
  setListeners(listeners: readonly ListenerConfig[]): void {
    this.configs = new Map(listeners.map((l) => [l.name, l]));
    for (const l of listeners) {
      if (!this.byListener.has(l.name)) this.byListener.set(l.name, new Map());
      if (!this.load.has(l.name)) this.load.set(l.name, new Map());
    }
    for (const name of [...this.byListener.keys()]) this.forgetIfGone(name);
  }

  /** `scope`: whose rules a view applies to this session (its listener); see KillScope. */
  add(record: SessionRecord, kill: KillFn, scope?: KillScope): void {
    let sessions = this.byListener.get(record.listener);
    if (!sessions) {
      sessions = new Map();
      this.byListener.set(record.listener, sessions);
    }
    const previous = sessions.get(record.id);
    if (previous) this.remove(previous.record);
    sessions.set(record.id, { record, kill, scope: scope ?? null });
    this.total++;
    this.bump(record.listener, record.backend, 1);
    if (record.clientKey) this.indexCancelKey(record, record.clientKey);
  }

  /**
   * Who kills the session from now on: its startup phase is over and the relay phase owns it
   * (proxy/session-relay.ts), so the registry no longer holds on to the startup machinery.
   */
  setKill(record: SessionRecord, kill: KillFn): void {
    const sessions = this.byListener.get(record.listener);
    const entry = sessions?.get(record.id);
    if (!sessions || entry?.record !== record) return;
    sessions.set(record.id, { record, kill, scope: entry.scope });
  }

  /** Idempotent; a record re-added under its id since is left alone. */
  remove(record: SessionRecord): void {
    const { listener } = record;
    const sessions = this.byListener.get(listener);
    const entry = sessions?.get(record.id);
    if (!sessions || entry?.record !== record) return;
    sessions.delete(record.id);
    this.total--;
    this.bump(listener, record.backend, -1);
    const ck = record.clientKey;
    if (ck) {
      const k = cancelKeyId(ck.pid, ck.key);
      if (this.byCancelKey.get(k) === record) {
        this.byCancelKey.delete(k);
        this.observer?.forgotten(ck);
      }
    }
    this.forgetIfGone(listener);
  }

  /** `clientKey`: the key the client was given, when it is not the backend's (rewrite_keys). */
  setCancelKey(record: SessionRecord, key: BackendKey, clientKey: BackendKey = key): void {
    const entry = this.byListener.get(record.listener)?.get(record.id);
    if (!entry || entry.record !== record) return;
    record.cancelKey = key;
    record.clientKey = clientKey;
    this.indexCancelKey(record, clientKey);
  }

  private indexCancelKey(record: SessionRecord, key: BackendKey): void {
    this.byCancelKey.set(cancelKeyId(key.pid, key.key), record);
    this.observer?.learned(record, key);
  }

  /** The session whose client holds exactly this key, on any listener (its cancelKey is the backend's). */
  findByCancelKey(pid: number, key: Buffer): SessionRecord | null {
    return this.byCancelKey.get(cancelKeyId(pid, key)) ?? null;
  }

  sessionsOn(listener: string, backend: string): number {
    return this.load.get(listener)?.get(backend) ?? 0;
  }

  count(listener?: string): number {
    return listener === undefined ? this.total : (this.byListener.get(listener)?.size ?? 0);
  }

  list(): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const sessions of this.byListener.values()) for (const e of sessions.values()) out.push({ ...e.record });
    return out;
  }

  /**
   * Destroys, at once, every session the view condemns (routing/kill.ts), and logs one line
   * per (listener, backend, reason) batch. Returns how many sessions were killed.
   */
  applyView(view: ClusterView): number {
    let killed = 0;
    for (const [name, sessions] of this.byListener) {
      if (sessions.size === 0) continue;
      // Sessions of one name may follow different rules after a reload moved the listener to
      // another bind: the old socket's sessions keep the config they were routed with.
      const groups = new Map<ListenerConfig, SessionRecord[]>();
      for (const e of sessions.values()) {
        const config = e.scope?.listener ?? this.configs.get(name);
        if (!config) continue;
        const group = groups.get(config);
        if (group) group.push(e.record);
        else groups.set(config, [e.record]);
      }
      for (const [listener, refs] of groups) killed += this.applyViewTo(view, listener, sessions, refs);
    }
    return killed;
  }

  private applyViewTo(view: ClusterView, listener: ListenerConfig, sessions: Map<string, Entry>, refs: readonly SessionRecord[]): number {
    let killed = 0;
    for (const batch of sessionsToKill(view, listener, refs)) {
      const victims: Entry[] = [];
      for (const id of batch.ids) {
        const entry = sessions.get(id);
        if (entry) victims.push(entry);
      }
      killed += this.killEntries(victims, batch.reason);
      this.logger.info(
        { event: 'sessions_killed', listener: listener.name, backend: batch.backend, reason: batch.reason, count: victims.length, generation: view.generation },
        'killed sessions after a view change',
      );
    }
    return killed;
  }

  /**
   * Destroys every session on `backend`, on all listeners (the admin API's "kill sessions",
   * HAProxy's `shutdown sessions server`). Sessions still connecting are moved to another
   * backend by their owner, like after a view change. Returns how many were killed.
   */
  killBackend(backend: string, reason: KillReason): number {
    let killed = 0;
    for (const [listener, sessions] of this.byListener) {
      const victims = [...sessions.values()].filter((e) => e.record.backend === backend);
      if (victims.length === 0) continue;
      killed += this.killEntries(victims, reason);
      this.logger.info({ event: 'sessions_killed', listener, backend, reason, count: victims.length }, 'killed sessions on request');
    }
    return killed;
  }

  private killEntries(victims: readonly Entry[], reason: KillReason): number {
    // Unregister before killing: a session that is only connecting re-routes under the same
    // id, and its new record must not be removed after the fact.
    for (const v of victims) this.remove(v.record);
    for (const v of victims) {
      try {
        v.kill(reason);
      } catch (err) {
        // One broken session must not stop the others from being killed.
        this.logger.error({ event: 'kill_failed', id: v.record.id, err }, 'failed to kill a session');
      }
    }
    return victims.length;
  }

  /** A listener no longer configured is forgotten with its last session. */
  private forgetIfGone(name: string): void {
    if (this.configs.has(name) || (this.byListener.get(name)?.size ?? 0) > 0) return;
    this.byListener.delete(name);
    this.load.delete(name);
  }

  private bump(listener: string, backend: string, by: number): void {
    let byBackend = this.load.get(listener);
    if (!byBackend) {
      byBackend = new Map();
      this.load.set(listener, byBackend);
    }
    const n = (byBackend.get(backend) ?? 0) + by;
    if (n > 0) byBackend.set(backend, n);
    else byBackend.delete(backend);
  }
}
