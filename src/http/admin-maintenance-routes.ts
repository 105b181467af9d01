// The admin API's planned-maintenance calls (issue 13), registered by registerAdminRoutes on the
// same authenticated instance:
//   GET  /admin/listeners                  paused state per listener
//   POST /admin/listeners/:name/pause      hold new clients (body optional: {"timeout":"30s"})
//   POST /admin/listeners/:name/resume     release them
// and the parsing of a drain's deadline ({"state":"drain","timeout":"5m"}) for the backend-state
// call. Every action is logged with the caller's address.
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../config/units.js';
import type { Logger } from '../log.js';
import { pauseOf } from '../routing/pause.js';
import type { RouterControl } from './types.js';

/** A duration from a JSON body ("30s", or a number of ms); absent → null; else why not. */
export function bodyDuration(body: unknown, key: string): { ok: true; ms: number | null } | { ok: false; message: string } {
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
  if (value === undefined || value === null) return { ok: true, ms: null };
  if (typeof value !== 'string' && typeof value !== 'number') return { ok: false, message: `"${key}" must be a duration such as "30s" or a number of milliseconds` };
  const parsed = parseDuration(value);
  return parsed.ok ? { ok: true, ms: parsed.value } : { ok: false, message: `"${key}": ${parsed.message}` };
}

type ListenerRequest = { Params: { name: string } };

export function registerMaintenanceRoutes(app: FastifyInstance, control: RouterControl, logger: Logger): void {
  const unknown = (name: string) => ({ error: 'not_found', message: `no listener named "${name}" (have ${control.listenerNames().join(', ')})` });

  app.get('/admin/listeners', async () => {
    const paused = control.pausedListeners();
    const listeners: Record<string, { paused: boolean; since: number | null; hold_ms: number | null }> = {};
    for (const name of control.listenerNames()) {
      const p = pauseOf(paused, name);
      listeners[name] = { paused: p !== null, since: p?.since ?? null, hold_ms: p?.hold_ms ?? null };
    }
    return { listeners };
  });

  app.post<ListenerRequest>('/admin/listeners/:name/pause', async (req, reply) => {
    const { name } = req.params;
    if (!control.listenerNames().includes(name)) return reply.code(404).send(unknown(name));
    const timeout = bodyDuration(req.body, 'timeout');
    if (!timeout.ok) return reply.code(400).send({ error: 'bad_request', message: timeout.message });
    const pause = control.pauseListener(name, timeout.ms ?? undefined);
    logger.info({ event: 'admin_pause', listener: name, hold_ms: pause.hold_ms, remote: req.ip }, `admin API: listener ${name} paused by ${req.ip}`);
    return { listener: name, paused: true, since: pause.since, hold_ms: pause.hold_ms };
  });

  app.post<ListenerRequest>('/admin/listeners/:name/resume', async (req, reply) => {
    const { name } = req.params;
    if (!control.listenerNames().includes(name)) return reply.code(404).send(unknown(name));
    const was = control.resumeListener(name);
    logger.info({ event: 'admin_resume', listener: name, was_paused: was !== null, remote: req.ip }, `admin API: listener ${name} resumed by ${req.ip}`);
    return { listener: name, paused: false, was_paused: was !== null, paused_since: was?.since ?? null };
  });
}
