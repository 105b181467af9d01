// One chaos phase: a replication mode, fresh books per router path, the writers running through
// pgrouter's RW port and HAProxy's at the same time, the faults one after the other (each
// followed by recovery and a few seconds of steady writes), then the books read from the final
// leader's own PostgreSQL and accounted.
import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { describeError } from '../../src/errors.js';
import { waitFor } from '../../test/harness/cluster.js';
import { log } from '../lib/common.js';
import { accountPath, type FaultWindow, type FinalBooks, type PathAccount } from './accounting.js';
import type { ChaosStack } from './chaos-stack.js';
import { runFault, type FaultName, type FaultSettings } from './faults.js';
import type { KeyTimeline, KeyTransition } from './key-timeline.js';
import { INITIAL_BALANCE, Workload, bankSchema, type BankTables } from './workload.js';

export type Mode = 'sync' | 'async';
export const PATHS = ['pgrouter', 'haproxy'] as const;
export type ChaosPath = (typeof PATHS)[number];

export interface PhaseOptions {
  mode: Mode;
  faults: readonly FaultName[];
  settings: FaultSettings;
  writers: number;
  pauseMs: number;
  accounts: number;
  /** Steady writes before the first fault and after each recovery. */
  steadyMs: number;
}

export interface FaultRecord extends FaultWindow {
  actionDoneAt: number | null;
  /** Cluster healthy again, HAProxy settled on the leader, and both paths committing. */
  recoveredAt: number | null;
  member: string | null;
  detail: Record<string, unknown>;
  /** Changes of the leader key from the fault's start until it recovered. */
  keyChanges: KeyTransition[];
  error: string | null;
}

export interface PhaseResult {
  mode: Mode;
  startedAt: number;
  endedAt: number;
  faults: FaultRecord[];
  finalLeader: string | null;
  paths: Partial<Record<ChaosPath, PathAccount>>;
  keyTransitions: KeyTransition[];
  error: string | null;
}

const tablesOf = (mode: Mode, p: ChaosPath): BankTables => ({ accounts: `chaos_${mode}_${p}_accounts`, ledger: `chaos_${mode}_${p}_ledger` });

async function withLeaderClient<T>(stack: ChaosStack, leader: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const { host, pgPort } = stack.cluster.node(leader);
  const client = new pg.Client({ host, port: pgPort, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Sets Patroni's synchronous_mode and waits until the leader's PostgreSQL follows it. */
async function setMode(stack: ChaosStack, mode: Mode): Promise<void> {
  const c = stack.cluster;
  await c.patronictl(['edit-config', '--force', '-s', `synchronous_mode=${mode === 'sync'}`]);
  await waitFor(
    async () => {
      const names = await c.psql(await c.leader(), 'SHOW synchronous_standby_names');
      return mode === 'sync' ? names !== '' : names === '';
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `the leader's synchronous_standby_names to follow synchronous_mode=${mode === 'sync'}` },
  );
}

async function readBooks(client: pg.Client, t: BankTables, accounts: number, leader: string): Promise<FinalBooks> {
  const sum = await client.query<{ s: string }>(`SELECT coalesce(sum(balance), 0) AS s FROM ${t.accounts}`);
  const mismatches = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${t.accounts} a LEFT JOIN (SELECT id, sum(d) AS d FROM (` +
      `SELECT src AS id, -amount AS d FROM ${t.ledger} UNION ALL SELECT dst, amount FROM ${t.ledger}) x GROUP BY id) l ` +
      `USING (id) WHERE a.balance <> ${INITIAL_BALANCE} + coalesce(l.d, 0)`,
  );
  const ids = await client.query<{ id: string }>(`SELECT id FROM ${t.ledger}`);
  return {
    leader,
    ledgerIds: new Set(ids.rows.map((r) => r.id)),
    balanceSum: Number(sum.rows[0]?.s),
    expectedSum: accounts * INITIAL_BALANCE,
    ledgerMismatches: Number(mismatches.rows[0]?.n),
  };
}

/** Healthy cluster, HAProxy on the leader alone, and a commit on every path after `since`. */
async function recover(stack: ChaosStack, workloads: readonly Workload[], since: number): Promise<void> {
  const c = stack.cluster;
  await c.waitForHealthy({ timeoutMs: 180_000 });
  await stack.haproxy.waitForPrimary(await c.leader(), 60_000);
  await waitFor(() => workloads.every((w) => w.lastAckAt > since), {
    timeoutMs: 60_000,
    intervalMs: 100,
    what: 'a commit on every path after the fault',
  });
}

export async function runPhase(stack: ChaosStack, timeline: KeyTimeline, opts: PhaseOptions, switchMode: boolean): Promise<PhaseResult> {
  const c = stack.cluster;
  const result: PhaseResult = { mode: opts.mode, startedAt: Date.now(), endedAt: 0, faults: [], finalLeader: null, paths: {}, keyTransitions: [], error: null };
  if (switchMode) await setMode(stack, opts.mode);
  await c.waitForHealthy({ timeoutMs: 120_000 });
  const leader = await c.leader();
  await withLeaderClient(stack, leader, async (client) => {
    for (const p of PATHS) await client.query(bankSchema(tablesOf(opts.mode, p), opts.accounts));
  });
  await stack.haproxy.waitForPrimary(leader, 60_000);
  const ports: Record<ChaosPath, number> = { pgrouter: stack.pgrouter.ports.rw, haproxy: stack.haproxy.ports.primary };
  const workloads = PATHS.map(
    (p) =>
      new Workload({
        ...{ label: `${opts.mode}-${p}`, host: '127.0.0.1', port: ports[p], tables: tablesOf(opts.mode, p) },
        ...{ accounts: opts.accounts, writers: opts.writers, pauseMs: opts.pauseMs, memberOfPort: stack.memberOfPort() },
      }),
  );
  for (const w of workloads) w.start();
  try {
    const since = Date.now();
    await waitFor(() => workloads.every((w) => w.lastAckAt > since), { timeoutMs: 60_000, intervalMs: 100, what: 'first commits on every path' });
    await delay(opts.steadyMs);
    for (const name of opts.faults) {
      const rec: FaultRecord = { name, startedAt: Date.now(), actionDoneAt: null, recoveredAt: null, member: null, detail: {}, keyChanges: [], error: null };
      result.faults.push(rec);
      log(`${opts.mode}: fault ${name}`);
      try {
        const outcome = await runFault(name, { stack, timeline, settings: opts.settings });
        Object.assign(rec, outcome, { actionDoneAt: Date.now() });
      } catch (err) {
        rec.error = describeError(err);
        log(`${opts.mode}: ${rec.error}`);
      }
      // A cluster that does not recover ends the phase: later faults would measure the wreck.
      try {
        await recover(stack, workloads, rec.actionDoneAt ?? Date.now());
        rec.recoveredAt = Date.now();
      } finally {
        rec.keyChanges = timeline.transitions(rec.startedAt, Date.now());
      }
      log(`${opts.mode}: ${name} on ${rec.member ?? '?'}: recovered ${((rec.recoveredAt - rec.startedAt) / 1000).toFixed(1)} s after its start`);
      await delay(opts.steadyMs);
    }
  } catch (err) {
    result.error = describeError(err);
    log(`${opts.mode}: phase ended early: ${result.error}`);
  } finally {
    await Promise.all(workloads.map((w) => w.stop()));
    result.endedAt = Date.now();
  }
  await account(stack, timeline, opts, workloads, result);
  return result;
}

async function account(stack: ChaosStack, timeline: KeyTimeline, opts: PhaseOptions, workloads: Workload[], result: PhaseResult): Promise<void> {
  const c = stack.cluster;
  try {
    await c.waitForHealthy({ timeoutMs: 180_000 });
    const leader = await c.leader();
    result.finalLeader = leader;
    await withLeaderClient(stack, leader, async (client) => {
      for (const [i, p] of PATHS.entries()) {
        const w = workloads[i]!;
        const books = await readBooks(client, tablesOf(opts.mode, p), opts.accounts, leader);
        const obs = timeline.observations;
        result.paths[p] = accountPath({ acks: w.acks, errors: w.errors, faults: result.faults, endedAt: result.endedAt, obs, books });
      }
    });
  } catch (err) {
    // The report still says what happened up to here; the missing books are named in it.
    result.error = [result.error, `cannot read the final books: ${describeError(err)}`].filter(Boolean).join('; ');
    log(`${opts.mode}: ${result.error}`);
  } finally {
    result.keyTransitions = timeline.transitions(result.startedAt, result.endedAt);
  }
}
