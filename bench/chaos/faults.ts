// The faults of a chaos phase, each against the live cluster while the writers run. A fault
// returns once its action is over (the node restarted, etcd back, the leader thawed); the
// runner then waits for the cluster and both paths to recover before the next one.
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../../src/errors.js';
import { HarnessError } from '../../test/harness/errors.js';
import type { LocalCluster } from '../../test/harness/cluster.js';
import { log } from '../lib/common.js';
import type { ChaosStack } from './chaos-stack.js';
import type { KeyTimeline } from './key-timeline.js';
import { delta, haproxyCounters, pgrouterCounters } from './router-stats.js';

export const FAULTS = ['switchover', 'replica-restart', 'crash', 'freeze', 'etcd', 'terminate', 'rest-outage'] as const;
export type FaultName = (typeof FAULTS)[number];

export interface FaultSettings {
  /** How long the leader's Patroni stays frozen (SIGSTOP); longer than ttl (10 s). */
  freezeMs: number;
  etcdDownMs: number;
  /** One REST outage; shorter than fall × interval (3 × 3 s) of both routers. */
  restOutageMs: number;
  /** Outages to stage at most, until each router's checks have met one. */
  restOutagesMax: number;
}

export interface FaultContext {
  stack: ChaosStack;
  timeline: KeyTimeline;
  settings: FaultSettings;
}

/** What a fault did: the member it hit and fault-specific figures for the report. */
export interface FaultOutcome {
  member: string;
  detail: Record<string, unknown>;
}

/** In synchronous mode only the synchronous standby may take over; prefer it everywhere. */
async function preferredReplica(c: LocalCluster): Promise<string> {
  const members = await c.members();
  const pick = members.find((m) => m.role === 'sync_standby') ?? members.find((m) => m.role === 'replica' && m.state === 'running');
  if (!pick) throw new HarnessError(`no running replica (members: ${members.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ')})`);
  return pick.name;
}

async function switchover(ctx: FaultContext): Promise<FaultOutcome> {
  const c = ctx.stack.cluster;
  const moved = await c.switchover(await preferredReplica(c));
  return { member: moved.from, detail: { to: moved.to } };
}

async function replicaRestart(ctx: FaultContext): Promise<FaultOutcome> {
  const c = ctx.stack.cluster;
  const name = await preferredReplica(c);
  await c.stopNode(name);
  await c.restart(name);
  return { member: name, detail: {} };
}

async function crash(ctx: FaultContext): Promise<FaultOutcome> {
  const c = ctx.stack.cluster;
  const from = await c.leader();
  await c.crash(from);
  const to = await c.waitForLeader((name) => name !== from, 120_000);
  await c.restart(from);
  return { member: from, detail: { to } };
}

async function freeze(ctx: FaultContext): Promise<FaultOutcome> {
  const c = ctx.stack.cluster;
  const leader = await c.leader();
  const pid = c.signalPatroni(leader, 'SIGSTOP');
  const frozenAt = Date.now();
  try {
    await delay(ctx.settings.freezeMs);
  } finally {
    c.signalPatroni(leader, 'SIGCONT');
  }
  const thawedAt = Date.now();
  log(`froze ${leader}'s Patroni (pid ${pid}) for ${thawedAt - frozenAt} ms`);
  return { member: leader, detail: { pid, frozen_ms: thawedAt - frozenAt } };
}

async function etcdOutage(ctx: FaultContext): Promise<FaultOutcome> {
  const c = ctx.stack.cluster;
  const leader = await c.leader();
  await c.stopEtcd();
  const stoppedAt = Date.now();
  try {
    await delay(ctx.settings.etcdDownMs);
  } finally {
    await c.startEtcd();
  }
  return { member: leader, detail: { down_ms: Date.now() - stoppedAt } };
}

async function terminate(ctx: FaultContext): Promise<FaultOutcome> {
  const c = ctx.stack.cluster;
  const leader = await c.leader();
  const sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'chaos-%'";
  const terminated = Number(await c.psql(leader, sql));
  return { member: leader, detail: { terminated } };
}

/**
 * REST outages of `restOutageMs` on the leader's gate, one at a time, each aimed at the next
 * request through the gate (a check of one router or the other), until both routers' checks
 * have failed at least once or `restOutagesMax` were staged. Each outage is followed by a
 * quiet 4 s, longer than both routers' check interval (3 s), so each stays a lone failure
 * rather than adding up to `fall`.
 */
async function restOutage(ctx: FaultContext): Promise<FaultOutcome> {
  const { cluster: c, haproxy, pgrouter } = ctx.stack;
  const leader = await c.leader();
  const gate = c.restGate(leader);
  const pgrBefore = await pgrouterCounters(pgrouter.ports.http);
  const hapBefore = (await haproxyCounters(haproxy.ports.stats, 'primary'))[leader];
  const outages: Array<{ closedAt: number; reopenedAt: number }> = [];
  let seen = { pgrouter: 0, haproxy: 0 };
  while (outages.length < ctx.settings.restOutagesMax && (seen.pgrouter === 0 || seen.haproxy === 0)) {
    const outage = await gate.outageOnNextRequest(ctx.settings.restOutageMs, 10_000);
    if (!outage) throw new HarnessError(`no request reached ${leader}'s REST gate in 10 s`);
    outages.push(outage);
    await delay(4000);
    const pgr = await pgrouterCounters(pgrouter.ports.http);
    const hap = (await haproxyCounters(haproxy.ports.stats, 'primary'))[leader];
    seen = {
      pgrouter: (pgr.primaryProbeFailures[leader] ?? 0) - (pgrBefore.primaryProbeFailures[leader] ?? 0),
      haproxy: (hap?.chkfail ?? 0) - (hapBefore?.chkfail ?? 0),
    };
  }
  const pgrAfter = await pgrouterCounters(pgrouter.ports.http);
  const hapAfter = (await haproxyCounters(haproxy.ports.stats, 'primary'))[leader];
  return {
    member: leader,
    detail: {
      outages: outages.map((o) => ({ ...o, ms: o.reopenedAt - o.closedAt })),
      failed_checks: seen,
      pgrouter_killed_rw: delta(pgrBefore.killedRw, pgrAfter.killedRw),
      haproxy_marked_down: (hapAfter?.chkdown ?? 0) - (hapBefore?.chkdown ?? 0),
    },
  };
}

const RUNNERS: Record<FaultName, (ctx: FaultContext) => Promise<FaultOutcome>> = {
  switchover,
  'replica-restart': replicaRestart,
  crash,
  freeze,
  etcd: etcdOutage,
  terminate,
  'rest-outage': restOutage,
};

export async function runFault(name: FaultName, ctx: FaultContext): Promise<FaultOutcome> {
  try {
    return await RUNNERS[name](ctx);
  } catch (err) {
    throw new HarnessError(`fault ${name}: ${describeError(err)}`, { cause: err });
  }
}
