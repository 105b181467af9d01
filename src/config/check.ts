// Output of `pgrouter check`, in the style of `haproxy -c`: one [ALERT] line per issue with
// file:line and key path, then a count; or one summary line for a valid file.
import type { Config, ConfigIssue } from './types.js';
import { formatBind, formatDuration } from './units.js';

/** "file:line: key.path: message" (the line and path when known). */
export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.line === null ? file : `${file}:${i.line}`;
  const path = i.path === '' ? '' : `${i.path}: `;
  return `${where}: ${path}${i.message}`;
}

export function formatIssues(file: string, issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `[ALERT] ${formatIssue(file, i)}`);
  const n = issues.length;
  lines.push(`Configuration file has ${n} ${n === 1 ? 'error' : 'errors'}`);
  return lines.join('\n');
}

export function summarizeConfig(config: Config): string {
  const { cluster, checks, listeners, http, admin } = config;
  const mode = cluster.etcd
    ? `etcd mode (scope ${cluster.scope}, ${plural(cluster.etcd.hosts.length, 'etcd host')})`
    : `static mode (scope ${cluster.scope}, ${plural(cluster.members?.length ?? 0, 'member')})`;
  const ls = listeners.map((l) => `${l.name} ${formatBind(l.bind)} ${l.role}`).join(', ');
  return (
    `Configuration file is valid: ${mode}, ${plural(listeners.length, 'listener')} (${ls}), ` +
    `checks every ${formatDuration(checks.interval)} fall ${checks.fall} rise ${checks.rise}, ` +
    `http ${formatBind(http.bind)}` +
    // Whether the admin API is on is worth one look at `check` output; the token never is.
    (admin.token === null ? '' : `, admin ${formatBind(admin.bind)}`)
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
