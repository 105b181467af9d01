// Patroni REST health probes for every member: GET /primary and GET /replica[?lag=N].
//
// One undici Agent (keep-alive where Patroni allows it; 3.0.2 speaks HTTP/1.0 and closes).
// Each member runs "rounds": all its checks in parallel, every checks.interval (jittered so
// members do not fire in lockstep). probeNow() starts a round at once, coalescing with one in
// flight by running another right after it, because a round sent *before* a leader change must
// not count as evidence after it (derive-view.ts fast confirm). Members in the fast set (the
// leader-key holder not yet confirmed) get a /primary-only round every checks.fast_interval.
// A check in transition (its last result disagrees with its state: counting the rest of rise or
// fall) is re-probed every checks.fastinter, HAProxy's name, which defaults to the interval: a
// healthy primary survives a REST outage of up to fall × fastinter (issue 10, defect 1).
//
// /sync and /read-only (issue 13) are only probed when a sync or read_only listener needs them.
//
// /primary, not /master: Patroni 3.0.2 routes any path containing "primary" or "master" to the
// same status (patroni/api.py do_GET), and 4.x dropped nothing for /primary.
import { Agent, request } from 'undici';
import type { ChecksConfig } from '../config/types.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { initialCheck, nextCheckState, type CheckRecord } from './check-state.js';
import type { MemberChecks } from './derive-view.js';
import { interpretProbe, type CheckKind } from './probe-response.js';
import { replicaCheckKey } from '../view/cluster-view.js';

export interface ProbeTarget {
  readonly name: string;
  /** REST base URL (origin), or null: the member cannot be probed. */
  readonly api: string | null;
}

/** One finished probe, for metrics (a latency histogram) and tests. */
export interface ProbeEvent {
  readonly member: string;
  /** 'primary' or 'replica:<key>' */
  readonly check: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly status: number | null;
  readonly error: string | null;
}

export interface ProberOptions {
  readonly checks: ChecksConfig;
  /** Distinct max_lag of the replica listeners (null = no limit → plain /replica). */
  readonly replicaLags: readonly (number | null)[];
  /** The same for the sync listeners (/sync) and the read_only listeners (/read-only); default none. */
  readonly syncLags?: readonly (number | null)[];
  readonly readOnlyLags?: readonly (number | null)[];
  readonly log: Logger;
  /** Called after each probe result was recorded. */
  readonly onResult: (member: string) => void;
  readonly onProbe?: (event: ProbeEvent) => void;
  /** A round failed with an exception (a bug): it is reported here and the loop goes on. */
  readonly onError?: (err: unknown) => void;
  readonly now?: () => number;
}

interface Check {
  readonly id: string;
  readonly kind: CheckKind;
  readonly path: string;
  readonly lagLimit: boolean;
}

interface MemberState {
  readonly name: string;
  readonly api: string | null;
  primary: CheckRecord;
  replica: Map<string, CheckRecord>;
  sync: Map<string, CheckRecord>;
  readOnly: Map<string, CheckRecord>;
  inflight: boolean;
  again: boolean;
  timer: NodeJS.Timeout | null;
}

const PATHS: Readonly<Record<Exclude<CheckKind, 'primary'>, string>> = { replica: '/replica', sync: '/sync', read_only: '/read-only' };

/** The checks one member gets, from the listeners' distinct max_lag values per role. */
export function checksFor(replicaLags: readonly (number | null)[], syncLags: readonly (number | null)[] = [], readOnlyLags: readonly (number | null)[] = []): Check[] {
  const checks: Check[] = [{ id: 'primary', kind: 'primary', path: '/primary', lagLimit: false }];
  const add = (kind: Exclude<CheckKind, 'primary'>, lags: readonly (number | null)[]): void => {
    const seen = new Set<string>();
    for (const lag of lags) {
      const key = replicaCheckKey(lag);
      if (seen.has(key)) continue;
      seen.add(key);
      checks.push({ id: key, kind, path: lag === null ? PATHS[kind] : `${PATHS[kind]}?lag=${lag}`, lagLimit: lag !== null });
    }
  };
  add('replica', replicaLags);
  add('sync', syncLags);
  add('read_only', readOnlyLags);
  return checks;
}

/** The name of a check in probe events and metrics: primary, replica:<key>, sync:<key>, read_only:<key>. */
export function checkName(check: { readonly kind: CheckKind; readonly id: string }): string {
  return check.kind === 'primary' ? 'primary' : `${check.kind}:${check.id}`;
}

/** A short reason for a failed request: "timeout", "ECONNREFUSED", ... */
export function networkReason(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  if (typeof e?.code === 'string') {
    return /TIMEOUT/.test(e.code) ? 'timeout' : e.code;
  }
  if (e?.cause !== undefined && e.cause !== err) return networkReason(e.cause);
  return describeError(err);
}

/**
 * TLS for https:// REST URLs (Patroni `restapi.certfile`, `cafile`, `verify_client`). Only the
 * CA given is trusted then, as with Patroni's own `ctl.cacert`; plain http:// URLs ignore it.
 * The server name comes from the URL: undici sends SNI for a DNS name, and Node checks an IP
 * address against the certificate's IP SANs.
 */
export function tlsOptions(tls: ChecksConfig['tls']): { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean } {
  if (tls === null) return {};
  return {
    ...(tls.ca !== null ? { ca: tls.ca } : {}),
    ...(tls.cert !== null && tls.key !== null ? { cert: tls.cert, key: tls.key } : {}),
    rejectUnauthorized: tls.verify,
  };
}

function inTransition(m: MemberState): boolean {
  const moving = (c: CheckRecord): boolean => c.lastOk !== null && c.lastOk !== c.up;
  return moving(m.primary) || [m.replica, m.sync, m.readOnly].some((records) => [...records.values()].some(moving));
}

/** Where a member keeps the records of one kind of keyed check. */
function recordsOf(m: MemberState, kind: Exclude<CheckKind, 'primary'>): Map<string, CheckRecord> {
  return kind === 'replica' ? m.replica : kind === 'sync' ? m.sync : m.readOnly;
}

export class Prober {
  private readonly opts: ProberOptions;
  private readonly now: () => number;
  private readonly replicaKeyList: readonly string[];
  private readonly checks: Check[];
  private readonly members = new Map<string, MemberState>();
  private fast = new Set<string>();
  private agent: Agent | null = null;
  private closed = false;

  constructor(opts: ProberOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.checks = checksFor(opts.replicaLags, opts.syncLags, opts.readOnlyLags);
    this.replicaKeyList = this.keysOf('replica');
  }

  /** Replica check keys every member has (fixed at construction). */
  replicaKeys(): readonly string[] {
    return this.replicaKeyList;
  }

  /** Keys of the sync (or read_only) checks every member has; empty when no listener needs them. */
  keysOf(kind: Exclude<CheckKind, 'primary'>): readonly string[] {
    return this.checks.filter((c) => c.kind === kind).map((c) => c.id);
  }

  start(): void {
    if (this.agent) return;
    this.agent = new Agent({
      keepAliveTimeout: this.opts.checks.interval + 1000,
      connect: { timeout: this.opts.checks.timeout, ...tlsOptions(this.opts.checks.tls) },
      headersTimeout: this.opts.checks.timeout,
      bodyTimeout: this.opts.checks.timeout,
    });
    for (const m of this.members.values()) this.round(m, 'all');
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const m of this.members.values()) if (m.timer) clearTimeout(m.timer);
    this.members.clear();
    const agent = this.agent;
    this.agent = null;
    if (agent) await agent.destroy();
  }

  /** Sets who is probed. New members (or a changed api) start from scratch with a round at once. */
  setTargets(targets: readonly ProbeTarget[]): void {
    const wanted = new Map(targets.map((t) => [t.name, t]));
    for (const [name, m] of this.members) {
      const t = wanted.get(name);
      if (!t || t.api !== m.api) {
        if (m.timer) clearTimeout(m.timer);
        this.members.delete(name);
      }
    }
    for (const t of targets) {
      if (this.members.has(t.name)) continue;
      const m: MemberState = { name: t.name, api: t.api, primary: initialCheck, replica: new Map(), sync: new Map(), readOnly: new Map(), inflight: false, again: false, timer: null };
      this.members.set(t.name, m);
      if (this.agent) this.round(m, 'all');
    }
  }

  /** Members to re-probe every fast_interval (/primary only) instead of every interval. */
  setFast(names: readonly string[]): void {
    const next = new Set(names);
    const added = [...next].filter((n) => !this.fast.has(n));
    this.fast = next;
    for (const name of added) {
      const m = this.members.get(name);
      if (m && !m.inflight) this.schedule(m);
    }
  }

  /** Probe these members now (all checks); a round in flight is followed by a fresh one. */
  probeNow(names: readonly string[]): void {
    for (const name of new Set(names)) {
      const m = this.members.get(name);
      if (!m) continue;
      if (m.inflight) m.again = true;
      else this.round(m, 'all');
    }
  }

  records(): ReadonlyMap<string, MemberChecks> {
    const out = new Map<string, MemberChecks>();
    for (const [name, m] of this.members) out.set(name, { primary: m.primary, replica: new Map(m.replica), sync: new Map(m.sync), readOnly: new Map(m.readOnly) });
    return out;
  }

  private schedule(m: MemberState): void {
    if (m.timer) clearTimeout(m.timer);
    if (this.closed || this.members.get(m.name) !== m) return;
    const fast = this.fast.has(m.name);
    // HAProxy's `fastinter`: while a check is in transition (its last result disagrees with its
    // state), the rest of rise/fall is counted at checks.fastinter. Not at fast_interval: three
    // failures 100 ms apart would take a healthy primary down in a 0.3 s REST hiccup (Patroni
    // restarted in pause mode, a stalled REST thread, a 502 from a proxy) and kill every RW
    // session, and a flapping replica would flap the RO view several times a second.
    const { fast_interval, fastinter, interval } = this.opts.checks;
    const base = fast ? fast_interval : inTransition(m) ? fastinter : interval;
    // Up to 10% early so members spread out instead of probing in lockstep.
    const delay = Math.max(1, Math.round(base * (0.9 + Math.random() * 0.1)));
    m.timer = setTimeout(() => {
      m.timer = null;
      this.round(m, fast ? 'primary' : 'all');
    }, delay);
    m.timer.unref();
  }

  private round(m: MemberState, which: 'all' | 'primary'): void {
    if (this.closed || !this.agent || this.members.get(m.name) !== m) return;
    if (m.timer) clearTimeout(m.timer);
    m.timer = null;
    m.inflight = true;
    m.again = false;
    const checks = which === 'all' ? this.checks : this.checks.filter((c) => c.kind === 'primary');
    // The loop must outlive a bug in a callback: a rejection here would be unhandled (the end
    // of a Node 20 process) and leave the member in flight, never probed again (issue 10).
    void Promise.all(checks.map((c) => this.probeOne(m, c).catch((err: unknown) => this.roundFailed(err))))
      .then(() => {
        m.inflight = false;
        if (this.members.get(m.name) !== m) return;
        if (m.again) this.round(m, 'all');
        else this.schedule(m);
      })
      .catch((err: unknown) => this.roundFailed(err));
  }

  private roundFailed(err: unknown): void {
    if (this.opts.onError) this.opts.onError(err);
    else this.opts.log.error({ event: 'probe_round_failed', error: describeError(err) }, 'probe round failed');
  }

  private async probeOne(m: MemberState, check: Check): Promise<void> {
    const startedAt = this.now();
    const t0 = performance.now();
    let status: number | null = null;
    let body: string | null = null;
    let netError: string | null = null;
    if (m.api === null) {
      netError = 'no api_url';
    } else {
      try {
        ({ status, body } = await this.get(`${m.api}${check.path}`));
      } catch (err) {
        netError = networkReason(err);
      }
    }
    const ms = performance.now() - t0;
    if (this.closed || this.members.get(m.name) !== m) return;
    const v = interpretProbe(check.kind, status, body, netError, check.lagLimit);
    const { rise, fall } = this.opts.checks;
    const extra = { status, error: v.error, lagging: v.lagging, conclusive: v.conclusive, role: v.role, state: v.state, startedAt };
    const at = this.now();
    if (check.kind === 'primary') m.primary = nextCheckState(m.primary, v.ok, at, rise, fall, extra);
    else {
      const records = recordsOf(m, check.kind);
      records.set(check.id, nextCheckState(records.get(check.id) ?? initialCheck, v.ok, at, rise, fall, extra));
    }
    this.opts.onProbe?.({ member: m.name, check: checkName(check), ms, ok: v.ok, status, error: v.error });
    this.opts.onResult(m.name);
  }

  private async get(url: string): Promise<{ status: number; body: string }> {
    const agent = this.agent;
    if (!agent) throw new Error('prober closed');
    const attempt = async () => {
      const res = await request(url, { dispatcher: agent, method: 'GET', signal: AbortSignal.timeout(this.opts.checks.timeout) });
      return { status: res.statusCode, body: await res.body.text() };
    };
    try {
      return await attempt();
    } catch (err) {
      // A keep-alive socket the server closed while idle fails the first write; that says
      // nothing about the member, so try once more on a fresh connection.
      if (networkReason(err) === 'UND_ERR_SOCKET') return attempt();
      throw err;
    }
  }
}
