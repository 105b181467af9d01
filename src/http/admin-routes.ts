// The admin API on admin.bind (only when admin.token is set): HAProxy's `set server state`
// and `shutdown sessions server` over HTTP. Every request needs `Authorization: Bearer
// <token>`; every action is logged with the caller's address, never with the token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { ADMIN_STATES } from '../routing/eligible.js';
import type { AdminState, RouterControl } from './types.js';
import { challenge, TokenCheck } from './admin-auth.js';

export interface AdminRoutesOptions {
  readonly config: Config;
  readonly token: string;
  readonly control: RouterControl;
  readonly logger: Logger;
}


type MemberRequest = FastifyRequest<{ Params: { member: string } }>;

export function registerAdminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  const { control, logger } = opts;
  const tokens = new TokenCheck(opts.token);

  // onRequest runs for unknown routes too, so without a token nothing can be learnt, not even
  // which paths exist.
  app.addHook('onRequest', async (req, reply) => {
    const auth = tokens.check(req.headers.authorization);
    if (auth.ok) return;
    logger.warn({ event: 'admin_auth_failed', remote: req.ip, method: req.method, url: req.url, why: auth.why }, 'admin API: request refused');
    const message = auth.why === 'missing' ? 'missing bearer token' : 'invalid token';
    return reply.code(401).header('www-authenticate', challenge(auth.why)).send({ error: 'unauthorized', message });
  });

  /** Members of the view, the static config, and any the operator already set a state on. */
  const knownMembers = (): Set<string> =>
    new Set([
      ...control.view().members.map((m) => m.name),
      ...(opts.config.cluster.members ?? []).map((m) => m.name),
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
    const backends: Record<string, AdminState> = {};
    for (const name of [...knownMembers()].sort()) backends[name] = states[name] ?? 'ready';
    return { backends };
  });

  app.post<{ Params: { member: string } }>('/admin/backends/:member/state', async (req, reply) => {
    const member = requireMember(req, reply);
    if (member === null) return reply;
    const state = (req.body as { state?: unknown } | null | undefined)?.state;
    if (!ADMIN_STATES.includes(state as AdminState)) {
      return reply.code(400).send({ error: 'bad_request', message: `body must be {"state": "ready" | "drain" | "maint"}` });
    }
    const previous = control.adminStates()[member] ?? 'ready';
    control.setAdminState(member, state as AdminState);
    logger.info(
      { event: 'admin_set_state', member, state, previous, remote: req.ip },
      `admin API: ${member} set to ${String(state)} (was ${previous}) by ${req.ip}`,
    );
    return { member, state, previous };
  });

  app.post<{ Params: { member: string } }>('/admin/backends/:member/kill', async (req, reply) => {
    const member = requireMember(req, reply);
    if (member === null) return reply;
    const killed = await control.killBackendSessions(member);
    logger.info({ event: 'admin_kill', member, killed, remote: req.ip }, `admin API: ${killed} sessions on ${member} killed by ${req.ip}`);
    return { member, killed };
  });
}
