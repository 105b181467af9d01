// Output of `pgrouter check`, in the style of `haproxy -c`: one [ALERT] line per issue with
// file:line and key path, then a count; or one summary line for a valid file.
import type { Config, ConfigIssue } from './types.js';
import { formatBind, formatDuration } from './units.js';
import { describeExpiry, inspectKeyPair } from './tls-material.js';

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

/** `pgrouter check` warns about a certificate that expires within this many days (issue 11). */
export const CERT_WARNING_DAYS = 14;

/**
 * What is valid but needs attention soon: a certificate pgrouter presents (a terminated
 * listener's, or its client certificate for PostgreSQL) that expires within `days`. Printed as
 * [WARNING] lines; the exit code stays 0.
 */
export function configWarnings(config: Config, now: number, days = CERT_WARNING_DAYS): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const check = (path: string, cert: string | null, key: string | null): void => {
    if (cert === null || key === null) return;
    const pair = inspectKeyPair(cert, key);
    if (pair.ok && pair.value.notAfter - now < days * 86_400_000) {
      out.push({ path, line: null, message: `certificate ${describeExpiry(pair.value.notAfter, now)}` });
    }
  };
  config.listeners.forEach((l, i) => {
    check(`listeners[${i}].tls.cert`, l.tls?.cert.pem ?? null, l.tls?.key.pem ?? null);
    check(`listeners[${i}].server_tls.cert`, l.server_tls.cert, l.server_tls.key);
  });
  return out;
}

export function formatWarnings(file: string, warnings: readonly ConfigIssue[]): string {
  return warnings.map((w) => `[WARNING] ${formatIssue(file, w)}`).join('\n');
}
