// The reload use case, behind SIGHUP and POST /admin/reload in both layouts: re-read and
// validate the config file, then apply it. An invalid file changes nothing:
// every issue is logged (with key path and line, like `pgrouter check`) and the router keeps
// running on the config it has. What a valid file changes decides what is restarted (PURE plan).
import { formatIssue } from '../config/check.js';
import { loadConfigFile } from '../config/load.js';
import type { Config, ConfigIssue } from '../config/types.js';
import type { Logger } from '../log.js';
import { discoveryKey } from './view-feed.js';

export interface ReloadPlan {
  readonly listenersAdded: readonly string[];
  readonly listenersRemoved: readonly string[];
  /** Same name, other settings (bind, balance, maxconn, ...). */
  readonly listenersChanged: readonly string[];
  /** cluster, checks or the max_lag set of the replica, sync or read_only listeners: a new Discovery is needed. */
  readonly discovery: boolean;
  /** Anything the data path runs with (listeners, timeouts, cancel, mode). */
  readonly dataPath: boolean;
  /** http / admin / log: the HTTP surface and logger. */
  readonly surface: readonly ('http' | 'admin' | 'log')[];
  /**
   * Changed settings a running router keeps until a restart: the HTTP and admin sockets, turning
   * the admin API or its /quitquitquit on or off, logging, the number of workers and the relay
   * engine. (http.ready, http.stats_refresh and a new admin token apply at once: the routes read
   * them per request.)
   */
  readonly restartNeeded: readonly string[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What changed from `old` to `next` (PURE). */
export function planReload(old: Config, next: Config): ReloadPlan {
  const before = new Map(old.listeners.map((l) => [l.name, l]));
  const after = new Map(next.listeners.map((l) => [l.name, l]));
  const listenersAdded = [...after.keys()].filter((n) => !before.has(n));
  const listenersRemoved = [...before.keys()].filter((n) => !after.has(n));
  const listenersChanged = [...after.keys()].filter((n) => before.has(n) && !same(before.get(n), after.get(n)));
  const mode = (c: Config) => ({ scope: c.cluster.scope, etcd: c.cluster.etcd !== null });
  const dataPath =
    !same(old.listeners, next.listeners) || !same(old.timeouts, next.timeouts) || !same(mode(old), mode(next)) || !same(old.cancel, next.cancel);
  const surface = (['http', 'admin', 'log'] as const).filter((k) => !same(old[k], next[k]));
  const restartNeeded = [
    ...(same(old.http.bind, next.http.bind) ? [] : ['http.bind']),
    ...(same(old.admin.bind, next.admin.bind) ? [] : ['admin.bind']),
    ...((old.admin.token === null) === (next.admin.token === null) ? [] : ['admin.token (admin API on/off)']),
    ...(old.admin.quitquitquit === next.admin.quitquitquit ? [] : ['admin.quitquitquit']),
    ...(same(old.log, next.log) ? [] : ['log']),
    // The process layout (in-process data path or N workers) is chosen at start.
    ...(same(old.workers, next.workers) ? [] : ['workers']),
    // The relay engine moves running sessions' bytes: it is chosen once per process.
    ...(old.relay === next.relay ? [] : ['relay']),
  ];
  return { listenersAdded, listenersRemoved, listenersChanged, discovery: discoveryKey(old) !== discoveryKey(next), dataPath, surface, restartNeeded };
}

export function describePlan(plan: ReloadPlan): string {
  const parts: string[] = [];
  if (plan.listenersAdded.length > 0) parts.push(`listeners added: ${plan.listenersAdded.join(', ')}`);
  if (plan.listenersRemoved.length > 0) parts.push(`listeners removed: ${plan.listenersRemoved.join(', ')}`);
  if (plan.listenersChanged.length > 0) parts.push(`listeners changed: ${plan.listenersChanged.join(', ')}`);
  if (plan.discovery) parts.push('discovery restarted');
  // Cluster mode starts a new worker generation for it; one process reconfigures in place.
  if (plan.dataPath) parts.push('data path updated');
  if (plan.surface.length > 0) parts.push(`changed: ${plan.surface.join(', ')}`);
  if (plan.restartNeeded.length > 0) parts.push(`kept until a restart: ${plan.restartNeeded.join(', ')}`);
  return parts.length === 0 ? 'nothing changed' : parts.join('; ');
}

export type ReadResult =
  | { readonly ok: true; readonly config: Config; readonly plan: ReloadPlan }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** Re-reads `file`; invalid → every issue logged at error level, one line each. */
export function readForReload(file: string, env: NodeJS.ProcessEnv, current: Config, logger: Logger): ReadResult {
  const result = loadConfigFile(file, env);
  if (!result.ok) {
    for (const issue of result.issues) {
      logger.error({ event: 'reload_config_issue', file, path: issue.path, line: issue.line }, formatIssue(file, issue));
    }
    logger.error({ event: 'reload_rejected', file, issues: result.issues.length }, `reload rejected: ${result.issues.length} config errors, running config kept`);
    return { ok: false, issues: result.issues };
  }
  return { ok: true, config: result.config, plan: planReload(current, result.config) };
}

/** What applies a validated config: the Router (Router.reload hands it to its plane). */
export interface Reloadable {
  readonly config: Config;
  reload(config: Config): Promise<{ ok: boolean; error?: string }>;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly plan: ReloadPlan }
  | { readonly ok: false; readonly reason: 'invalid'; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly reason: 'apply_failed'; readonly error: string };

/** The SIGHUP handler's body: read, validate, log, apply. Never throws. */
export async function reloadFromFile(target: Reloadable, file: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<ReloadOutcome> {
  logger.info({ event: 'reload_requested', file }, 'reloading the configuration');
  const read = readForReload(file, env, target.config, logger);
  if (!read.ok) return { ok: false, reason: 'invalid', issues: read.issues };
  let applied: { ok: boolean; error?: string };
  try {
    applied = await target.reload(read.config);
  } catch (err) {
    applied = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  if (!applied.ok) {
    const error = applied.error ?? 'unknown error';
    logger.error({ event: 'reload_failed', file, error }, `reload failed, running config kept: ${error}`);
    return { ok: false, reason: 'apply_failed', error };
  }
  logger.info({ event: 'reload_done', file, changes: describePlan(read.plan) }, `configuration reloaded: ${describePlan(read.plan)}`);
  if (read.plan.restartNeeded.length > 0) {
    logger.warn(
      { event: 'reload_restart_needed', file, settings: read.plan.restartNeeded },
      `these changes take effect only after a restart: ${read.plan.restartNeeded.join(', ')}`,
    );
  }
  return { ok: true, plan: read.plan };
}
