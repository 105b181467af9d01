// http and admin: the router's own HTTP surface. http (stats, metrics, health, readiness) is
// always on; the admin API (set a member's state, kill its sessions) is off until a token is
// configured, because it changes routing and must never be reachable without authentication.
import type { AdminConfig, HttpConfig } from './types.js';
import type { RawConfig } from './schema.js';
import type { KeyPath } from './path.js';
import { ADMIN_TOKEN_ENV, DEFAULTS } from './defaults.js';
import { bindAt, durationAt, has, type Loose, type Report } from './normalize-values.js';
import { resolveSecret, type SecretContext } from './secrets.js';

type RawHttp = Loose<NonNullable<RawConfig['http']>>;
type RawAdmin = Loose<NonNullable<RawConfig['admin']>>;

export interface NormalizedHttp {
  readonly config: HttpConfig;
  /** False when the bind was present but invalid (already reported): leave it out of conflict checks. */
  readonly bindValid: boolean;
}

export function normalizeHttp(
  raw: RawHttp | undefined,
  /** Raw roles of the listeners; undefined where the role is missing or invalid (already reported). */
  listenerRoles: readonly (string | undefined)[],
  report: Report,
): NormalizedHttp {
  const h = raw ?? {};
  const at = (key: string): KeyPath => ['http', key];
  const bind = bindAt(h.bind, at('bind'), report);
  const ready = h.ready ?? DEFAULTS.http.ready;
  // An RO-only sidecar is ready when a replica listener has a replica; with no replica listener
  // /ready could never say 200, which is a config mistake and not a state of the cluster.
  if (ready === 'replica' && !listenerRoles.some((role) => role === undefined || role === 'replica')) {
    report(at('ready'), 'replica needs a listener with role: replica (use primary or any)');
  }
  return {
    config: {
      bind: bind ?? DEFAULTS.http.bind,
      stats_refresh: durationAt(h.stats_refresh, at('stats_refresh'), DEFAULTS.http.stats_refresh, 'zero-ok', report),
      ready,
    },
    bindValid: bind !== null || h.bind === undefined,
  };
}

/** The admin socket is opened for the admin API (a token) or for POST /quitquitquit alone. */
export function adminSocketOn(admin: AdminConfig): boolean {
  return admin.token !== null || admin.quitquitquit;
}

export interface NormalizedAdmin {
  readonly config: AdminConfig;
  readonly bindValid: boolean;
}

export function normalizeAdmin(raw: RawAdmin | undefined, ctx: SecretContext, report: Report): NormalizedAdmin {
  const a = raw ?? {};
  const at = (key: string): KeyPath => ['admin', key];
  const bind = bindAt(a.bind, at('bind'), report);

  const override = ctx.env[ADMIN_TOKEN_ENV];
  let token: string | null = null;
  let where = 'admin.token';
  if (override !== undefined && override !== '') {
    // Like PGROUTER_ETCD_PASSWORD: the override wins even over a broken YAML form.
    token = override;
    where = ADMIN_TOKEN_ENV;
  } else if (has(a, 'token') && a.token !== undefined) {
    const resolved = resolveSecret(a.token, 'literal', ctx);
    if (resolved.ok) token = resolved.value;
    else report(at('token'), resolved.message);
  }
  const min = DEFAULTS.admin.token_min_length;
  if (token !== null && token.length < min) {
    // The length is all a message may say about a secret.
    const path = where === 'admin.token' ? at('token') : ['admin'];
    report(path, `${where} must be at least ${min} characters long (got ${token.length})`);
  }
  const quitquitquit = a.quitquitquit ?? DEFAULTS.admin.quitquitquit;
  return { config: { bind: bind ?? DEFAULTS.admin.bind, token, quitquitquit }, bindValid: bind !== null || a.bind === undefined };
}
