// The admin API on admin.bind (only when admin.token is set): HAProxy's `set server state`
// and `shutdown sessions server` over HTTP. Every request needs `Authorization: Bearer
// <token>`; every action is logged with the caller's address, never with the token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { ADMIN_STATES, adminStateOf } from '../routing/eligible.js';
import type { AdminState, ReloadReply, RouterControl } from './types.js';
import { challenge, TokenCheck } from './admin-auth.js';
import { bodyDuration, registerMaintenanceRoutes } from './admin-maintenance-routes.js';

export interface AdminRoutesOptions {
  /** The config as of now (static members are admin targets too). */
  readonly config: () => Config;
  /** The token as of now: read per request, so a reload rotates it. */
  readonly token: () => string;
  readonly control: RouterControl;
  readonly logger: Logger;
  /** POST /admin/reload (the SIGHUP handler); absent: 501. */
  readonly reload?: () => Promise<ReloadReply>;
  /** Exact paths on the same socket that guard themselves (POST /quitquitquit): no token asked. */
  readonly open?: readonly string[];
}


type MemberRequest = FastifyRequest<{ Params: { member: string } }>;

export function registerAdminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  const { control, logger } = opts;
  let tokenText = opts.token();
  let tokens = new TokenCheck(tokenText);
  const currentTokens = (): TokenCheck => {
    const now = opts.token();
    if (now !== tokenText) {
      tokens = new TokenCheck(now);
      tokenText = now;
    }
    return tokens;
  };

  // onRequest runs for unknown routes too, so without a token nothing can be learnt, not even
  // which paths exist.
  const open = new Set(opts.open ?? []);
  app.addHook('onRequest', async (req, reply) => {
    if (open.has(req.url)) return;
    const auth = currentTokens().check(req.headers.authorization);
    if (auth.ok) return;
    logger.warn({ event: 'admin_auth_failed', remote: req.ip, method: req.method, url: req.url, why: auth.why }, 'admin API: request refused');
    const message = auth.why === 'missing' ? 'missing bearer token' : 'invalid token';
    return reply.code(401).header('www-authenticate', challenge(auth.why)).send({ error: 'unauthorized', message });
  });

  /** Members of the view, the static config, and any the operator already set a state on. */
  const knownMembers = (): Set<string> =>
    new Set([
      ...control.view().members.map((m) => m.name),
      ...(opts.config().cluster.members ?? []).map((m) => m.name),
      ...Object.keys(control.adminStates()),
    ]);

  const requireMember = (req: MemberRequest, reply: FastifyReply): string | null => {
    const member = req.params.member;
    if (knownMembers().has(member)) return member;
    void reply.code(404).send({ error: 'not_found', message: `no member named "${member}"` });
    return null;
  };

  app.get('/admin/sessions', async () => ({ sessions: await control.sessions() }));

  app.get('/admin/backends', async () => {
    const states = control.adminStates();
    const backends = Object.create(null) as Record<string, AdminState>;
    for (const name of [...knownMembers()].sort()) backends[name] = adminStateOf(states, name);
    return { backends, drain_deadlines: control.drainDeadlines() };
  });

  app.post<{ Params: { member: string } }>('/admin/backends/:member/state', async (req, reply) => {
    const member = requireMember(req, reply);
    if (member === null) return reply;
    const state = (req.body as { state?: unknown } | null | undefined)?.state;
    if (!ADMIN_STATES.includes(state as AdminState)) {
      return reply.code(400).send({ error: 'bad_request', message: `body must be {"state": "ready" | "drain" | "maint"}` });
    }
    // Issue 13: {"state":"drain","timeout":"5m"} closes what is left after the deadline.
    const timeout = bodyDuration(req.body, 'timeout');
    if (!timeout.ok) return reply.code(400).send({ error: 'bad_request', message: timeout.message });
    if (timeout.ms !== null && state !== 'drain') return reply.code(400).send({ error: 'bad_request', message: `"timeout" only applies to "drain"` });
    const previous = adminStateOf(control.adminStates(), member);
    control.setAdminState(member, state as AdminState, timeout.ms === null ? {} : { timeoutMs: timeout.ms });
    const deadline = Object.hasOwn(control.drainDeadlines(), member) ? (control.drainDeadlines()[member] ?? null) : null;
    logger.info(
      { event: 'admin_set_state', member, state, previous, timeout_ms: timeout.ms, remote: req.ip },
      `admin API: ${member} set to ${String(state)} (was ${previous}) by ${req.ip}`,
    );
    return { member, state, previous, deadline_at: deadline };
  });

  registerMaintenanceRoutes(app, control, logger);

  // Like SIGHUP: re-read the config file, validate it, apply it; the answer says what happened.
  app.post('/admin/reload', async (req, reply) => {
    if (!opts.reload) return reply.code(501).send({ error: 'not_implemented', message: 'this router was started without a config file to reload' });
    logger.info({ event: 'admin_reload', remote: req.ip }, `admin API: reload requested by ${req.ip}`);
    const outcome = await opts.reload();
    if (outcome.ok) {
      return { ok: true, changes: outcome.changes, restart_needed: outcome.restartNeeded };
    }
    if (outcome.reason === 'invalid') {
      // Issues never carry secret values (config/secrets.ts), only key paths, lines and reasons.
      const issues = outcome.issues.map((i) => ({ path: i.path, line: i.line, message: i.message }));
      return reply.code(400).send({ ok: false, error: 'invalid_config', message: 'the config file is invalid; the running config is kept', issues });
    }
    return reply.code(500).send({ ok: false, error: 'apply_failed', message: `the running config is kept: ${outcome.error}` });
  });

  app.post<{ Params: { member: string } }>('/admin/backends/:member/kill', async (req, reply) => {
    const member = requireMember(req, reply);
    if (member === null) return reply;
    const killed = await control.killBackendSessions(member);
    logger.info({ event: 'admin_kill', member, killed, remote: req.ip }, `admin API: ${killed} sessions on ${member} killed by ${req.ip}`);
    return { member, killed };
  });
}
