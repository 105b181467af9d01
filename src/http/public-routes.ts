// The routes on http.bind: /metrics, /stats, /stats.json, /health, /ready, /health/:listener.
// No authentication, read-only: the same trust level as HAProxy's stats page and exporter.
// Probe routes fail closed: if the snapshot cannot be taken they answer 503, never 200.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HttpConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { RouterControl, StatsSnapshot } from './types.js';
import { listenerHealth, readiness, type Verdict } from './readiness.js';
import { renderStatsPage } from './stats-page.js';

export interface PublicRoutesOptions {
  /** Read per request: a reload's http.ready and http.stats_refresh apply at once. */
  readonly http: () => HttpConfig;
  readonly control: RouterControl;
  readonly logger: Logger;
}

/** The page loads nothing: inline CSS only, no scripts, no images, no frames. */
const STATS_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** ?refresh=N (seconds, 0 = off) overrides http.stats_refresh for one load. */
export function refreshSeconds(query: unknown, configuredMs: number): number {
  const fallback = configuredMs > 0 ? Math.max(1, Math.round(configuredMs / 1000)) : 0;
  const value = (query as { refresh?: unknown } | null)?.refresh;
  if (typeof value !== 'string' || !/^\d{1,5}$/.test(value)) return fallback;
  return Math.min(Number(value), 86_400);
}

export function registerPublicRoutes(app: FastifyInstance, opts: PublicRoutesOptions): void {
  const { control, http, logger } = opts;

  /** For probes: a snapshot, or a 503 that says why there is none. */
  const probeSnapshot = (reply: FastifyReply): StatsSnapshot | null => {
    try {
      return control.snapshot();
    } catch (err) {
      logger.error({ err: describeError(err) }, 'cannot take a stats snapshot for a probe');
      void reply.code(503).send({ status: 'unavailable', reason: `no snapshot: ${describeError(err)}` });
      return null;
    }
  };

  app.get('/metrics', async (_req, reply) => {
    const text = await control.metricsText();
    return reply.type(control.metricsContentType()).send(text);
  });

  app.get('/stats', async (req, reply) => {
    const page = renderStatsPage(control.snapshot(), { refreshSeconds: refreshSeconds(req.query, http().stats_refresh) });
    return reply.header('content-security-policy', STATS_CSP).type('text/html; charset=utf-8').send(page);
  });

  app.get('/stats.json', async (_req, reply) => reply.send(control.snapshot()));

  // Liveness: the process answers. Deliberately independent of the cluster's state, so a
  // cluster outage never gets the router restarted by its supervisor.
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_req, reply) => {
    const s = probeSnapshot(reply);
    if (s === null) return reply;
    const policy = http().ready;
    return sendVerdict(reply, readiness(s, policy), { policy });
  });

  app.get<{ Params: { listener: string } }>('/health/:listener', async (req, reply) => {
    const s = probeSnapshot(reply);
    if (s === null) return reply;
    const row = s.listeners.find((l) => l.name === req.params.listener);
    if (!row) {
      const known = s.listeners.map((l) => l.name).join(', ');
      return reply.code(404).send({ status: 'unknown', reason: `no listener named "${req.params.listener}" (have ${known})` });
    }
    return sendVerdict(reply, listenerHealth(row), { listener: row.name });
  });
}

function sendVerdict(reply: FastifyReply, verdict: Verdict, extra: Record<string, string>): FastifyReply {
  return reply.code(verdict.ok ? 200 : 503).send({ status: verdict.ok ? 'ok' : 'unavailable', ...extra, reason: verdict.reason });
}
