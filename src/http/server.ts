// HttpServer: the router's HTTP surface. One fastify instance on http.bind (metrics, stats,
// health, readiness) and, only when admin.token is set, a second one on admin.bind for the
// admin API, so that the admin socket can stay on loopback while stats are exposed.
// Request logging is off: probes and scrapes arrive every few seconds and would drown the
// router's own events. Server errors and admin actions are logged.
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Config, HostPort } from '../config/types.js';
import type { Logger } from '../log.js';
import { PgrError, describeError } from '../errors.js';
import { formatBind } from '../config/units.js';
import type { ReloadReply, RouterControl } from './types.js';
import { registerPublicRoutes } from './public-routes.js';
import { registerAdminRoutes } from './admin-routes.js';
import { QUIT_PATH, registerQuitRoute } from './quit-route.js';
import { adminSocketOn } from '../config/normalize-surface.js';

export interface HttpServerOptions {
  /** The config the sockets are bound with (http.bind, admin.bind, and whether admin is on). */
  readonly config: Config;
  /** The config as of now (after reloads), for what routes read per request; default `config`. */
  readonly current?: () => Config;
  readonly control: RouterControl;
  readonly logger: Logger;
  /** POST /admin/reload: re-read the config file and apply it (Router.reloadFile, what SIGHUP runs). */
  readonly reload?: () => Promise<ReloadReply>;
  /** POST /quitquitquit (admin.quitquitquit): drain and exit as on SIGTERM. */
  readonly quit?: () => void;
}

export interface HttpAddresses {
  readonly http: HostPort;
  readonly admin: HostPort | null;
}

export class HttpServer {
  readonly http: FastifyInstance;
  /** null while nothing is served on admin.bind (no admin.token, no admin.quitquitquit). */
  readonly admin: FastifyInstance | null;
  private readonly logger: Logger;
  private started = false;
  private closing: Promise<void> | null = null;

  constructor(private readonly opts: HttpServerOptions) {
    this.logger = opts.logger.child({ part: 'http' });
    const { config, control } = opts;
    const current = opts.current ?? (() => config);
    this.http = createApp(this.logger);
    registerPublicRoutes(this.http, { http: () => current().http, control, logger: this.logger });
    const token = config.admin.token;
    this.admin = adminSocketOn(config.admin) ? createApp(this.logger) : null;
    // Registered before the admin API's token hook: the quit route is guarded by the peer
    // address instead, and the hook lets it through (admin-routes.ts, `open`).
    const quit = opts.quit;
    if (this.admin && config.admin.quitquitquit && quit) registerQuitRoute(this.admin, { quit, logger: this.logger });
    if (this.admin && token !== null) {
      // A reload rotates the token at once; one that removes it keeps the API (and the last
      // token) until a restart, like the socket.
      let lastToken = token;
      registerAdminRoutes(this.admin, {
        config: current,
        token: () => (lastToken = current().admin.token ?? lastToken),
        control,
        logger: this.logger,
        ...(opts.reload ? { reload: opts.reload } : {}),
        open: config.admin.quitquitquit ? [QUIT_PATH] : [],
      });
    }
  }

  /** Binds both sockets; if either fails, closes what was opened and rejects with PGR_ERR_BIND. */
  async start(): Promise<void> {
    try {
      await listen(this.http, this.opts.config.http.bind, 'http.bind');
      if (this.admin) await listen(this.admin, this.opts.config.admin.bind, 'admin.bind');
    } catch (err) {
      await this.close();
      throw err;
    }
    this.started = true;
    const a = this.addresses();
    this.logger.info(
      { event: 'http_started', http: formatBind(a.http), admin: a.admin ? formatBind(a.admin) : null },
      a.admin ? 'HTTP surface and admin socket listening' : 'HTTP surface listening (admin API off: no admin.token)',
    );
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.http.close(), this.admin?.close()]).then(() => {
      if (this.started) this.logger.info({ event: 'http_stopped' }, 'HTTP surface stopped');
      this.started = false;
    });
    return this.closing;
  }

  /** The bound addresses (the real ports when the config said port 0). */
  addresses(): HttpAddresses {
    return { http: boundAddress(this.http, 'http'), admin: this.admin ? boundAddress(this.admin, 'admin') : null };
  }
}

function createApp(logger: Logger): FastifyInstance {
  // 10 s per request: a slow client must not pin a socket of a router that is being probed.
  const app = Fastify({ logger: false, requestTimeout: 10_000, bodyLimit: 16_384 });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) logger.error({ err: describeError(err), method: req.method, url: req.url }, 'HTTP request failed');
    // 4xx messages are fastify's own (bad JSON, wrong content type): safe and useful to echo.
    const message = status >= 500 ? 'internal error (see the router log)' : err.message;
    return reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad_request', message });
  });
  app.addHook('onSend', async (_req, reply) => {
    // Every answer is live state: a cache in between would show a stale primary.
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
  });
  return app;
}

async function listen(app: FastifyInstance, bind: HostPort, key: string): Promise<void> {
  try {
    await app.listen({ host: bind.host, port: bind.port });
  } catch (err) {
    throw new PgrError('PGR_ERR_BIND', `cannot listen on ${key} ${formatBind(bind)}: ${describeError(err)}`, { cause: err });
  }
}

function boundAddress(app: FastifyInstance, what: string): HostPort {
  const address = app.server.address() as AddressInfo | string | null;
  if (address === null || typeof address === 'string') {
    throw new PgrError('PGR_ERR_BIND', `the ${what} server is not listening`);
  }
  return { host: address.address, port: address.port };
}
