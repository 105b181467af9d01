// POST /quitquitquit (admin.quitquitquit): the stop button of a sidecar, as cloud-sql-proxy
// has it. Before Kubernetes 1.29's native sidecars, a Job's pod ends only when every container
// exits, so the Job's last step asks its pgrouter sidecar to drain and exit like on SIGTERM.
// No token: only processes on this host (this pod) reach a loopback peer address, and the
// route is off unless configured. Anyone else gets 403, whatever the bind.
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback (a dual-stack socket reports ::ffff:127.0.0.1). */
export function isLoopbackPeer(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

export const QUIT_PATH = '/quitquitquit';

export function registerQuitRoute(app: FastifyInstance, opts: { readonly quit: () => void; readonly logger: Logger }): void {
  app.post(QUIT_PATH, async (req, reply) => {
    const peer = req.socket.remoteAddress;
    if (!isLoopbackPeer(peer)) {
      opts.logger.warn({ event: 'quit_refused', remote: peer }, 'POST /quitquitquit refused: not from a loopback address');
      return reply.code(403).send({ error: 'forbidden', message: 'only a loopback peer may stop the router' });
    }
    opts.logger.info({ event: 'quit_requested', remote: peer }, 'POST /quitquitquit: draining and exiting as on SIGTERM');
    // Answer first: the drain closes this very socket.
    reply.raw.once('finish', opts.quit);
    return { status: 'stopping' };
  });
}
