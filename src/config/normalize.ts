// Semantic stage: schema-valid raw YAML → Config. Fills defaults (defaults.ts), parses value
// syntaxes (units.ts), resolves secrets (secrets.ts) and checks the rules a schema cannot
// express: durations that must be > 0, one listen address per socket, etcd XOR members...
// It reports every problem it finds and returns a Config that is only meaningful when the
// schema stage and this stage both found nothing.
import type { ChecksConfig, Config, LogConfig, TimeoutsConfig } from './types.js';
import type { RawConfig } from './schema.js';
import type { PathIssue } from './path.js';
import { DEFAULTS } from './defaults.js';
import { bindConflicts, type BindUse } from './binds.js';
import { normalizeCancel } from './normalize-cancel.js';
import { normalizeCluster } from './normalize-cluster.js';
import { normalizeListeners } from './normalize-listeners.js';
import { normalizeTlsFiles } from './normalize-tls.js';
import { adminSocketOn, normalizeAdmin, normalizeHttp } from './normalize-surface.js';
import { durationAt, type Loose, type Report } from './normalize-values.js';
import type { SecretContext } from './secrets.js';
import { formatPath } from './path.js';
import { formatDuration } from './units.js';

export interface NormalizeResult {
  readonly config: Config;
  readonly issues: PathIssue[];
}

export function normalizeConfig(raw: Loose<RawConfig> | undefined, ctx: SecretContext): NormalizeResult {
  const issues: PathIssue[] = [];
  const report: Report = (path, message) => issues.push({ path, message });
  const r = raw ?? {};

  const cluster = normalizeCluster(r.cluster, ctx, report);
  const checks = normalizeChecks(r.checks, ctx, report);
  const listeners = normalizeListeners(r.listeners, ctx, report);
  const timeouts = normalizeTimeouts(r.timeouts, report);
  const roles = (r.listeners ?? DEFAULTS.listeners).map((l) => l?.role);
  const http = normalizeHttp(r.http, roles, report);
  const admin = normalizeAdmin(r.admin, ctx, report);
  const log: LogConfig = { level: r.log?.level ?? DEFAULTS.log.level, format: r.log?.format ?? DEFAULTS.log.format };

  // The HTTP surface is checked last, so a clash is reported on http.bind or admin.bind, the
  // odd one out. admin.bind only takes a socket when something is served there (adminSocketOn).
  const uses: BindUse[] = [];
  for (const l of listeners) {
    if (l.bind) uses.push({ path: l.path, owner: formatPath(l.path.slice(0, -1)), bind: l.bind });
  }
  if (http.bindValid) uses.push({ path: ['http', 'bind'], owner: 'http.bind', bind: http.config.bind });
  if (admin.bindValid && adminSocketOn(admin.config)) uses.push({ path: ['admin', 'bind'], owner: 'admin.bind', bind: admin.config.bind });
  issues.push(...bindConflicts(uses));

  const config: Config = {
    ...{ cluster, checks, listeners: listeners.map((l) => l.config), timeouts },
    ...{ http: http.config, admin: admin.config, log },
    workers: r.workers ?? DEFAULTS.workers,
    cancel: normalizeCancel(r.cancel, report),
    relay: r.relay ?? DEFAULTS.relay,
  };
  return { config, issues };
}

function normalizeChecks(raw: Loose<NonNullable<RawConfig['checks']>> | undefined, ctx: SecretContext, report: Report): ChecksConfig {
  const c = raw ?? {};
  const d = DEFAULTS.checks;
  const at = (key: string) => ['checks', key];
  const interval = durationAt(c.interval, at('interval'), d.interval, 'positive', report);
  const fast = durationAt(c.fast_interval, at('fast_interval'), d.fast_interval, 'positive', report);
  // The fast interval re-probes an unconfirmed leader; slower than the normal one is a mix-up.
  if (fast > interval) {
    report(at('fast_interval'), `${formatDuration(fast)} is longer than checks.interval (${formatDuration(interval)})`);
  }
  // HAProxy's fastinter defaults to inter; pgrouter's too, so fall × interval is what a
  // transient REST outage may last before a check goes down (issue 10).
  const fastinter = durationAt(c.fastinter, at('fastinter'), interval, 'positive', report);
  if (fastinter > interval) {
    report(at('fastinter'), `${formatDuration(fastinter)} is longer than checks.interval (${formatDuration(interval)})`);
  }
  return {
    interval,
    timeout: durationAt(c.timeout, at('timeout'), d.timeout, 'positive', report),
    fall: c.fall ?? d.fall,
    rise: c.rise ?? d.rise,
    fast_interval: fast,
    fastinter,
    tls: c.tls === undefined ? null : { ...normalizeTlsFiles(c.tls, at('tls'), ctx, report), verify: c.tls.verify ?? d.tls_verify },
  };
}

function normalizeTimeouts(
  raw: Loose<NonNullable<RawConfig['timeouts']>> | undefined,
  report: Report,
): TimeoutsConfig {
  const t = raw ?? {};
  const d = DEFAULTS.timeouts;
  const at = (key: string) => ['timeouts', key];
  const connect = durationAt(t.connect, at('connect'), d.connect, 'positive', report);
  return {
    connect,
    // 0 = no idle timeout (HAProxy warns about a missing one; PostgreSQL sessions idle legitimately).
    client: durationAt(t.client, at('client'), d.client, 'zero-ok', report),
    server: durationAt(t.server, at('server'), d.server, 'zero-ok', report),
    startup: durationAt(t.startup, at('startup'), d.startup, 'positive', report),
    // 0 = refuse at once when no backend is there.
    connect_wait: durationAt(t.connect_wait, at('connect_wait'), d.connect_wait, 'zero-ok', report),
    // 0 = no queueing: a client over maxconn is refused at once.
    queue: durationAt(t.queue, at('queue'), d.queue, 'zero-ok', report),
    // 0 = no TCP keepalive.
    keepalive: durationAt(t.keepalive, at('keepalive'), d.keepalive, 'zero-ok', report),
    // 0 = close sessions at once on SIGTERM.
    shutdown_grace: durationAt(t.shutdown_grace, at('shutdown_grace'), d.shutdown_grace, 'zero-ok', report),
    // Issue 10: a backend's silence after connect is bounded like the connect itself.
    server_hello: durationAt(t.server_hello, at('server_hello'), connect, 'positive', report),
    // 0 = a reload closes the old workers' sessions at once.
    reload_drain: durationAt(t.reload_drain, at('reload_drain'), d.reload_drain, 'zero-ok', report),
  };
}
