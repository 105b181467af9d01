// A listening socket closed for a while and bound again to the same address (a cluster worker
// whose views went stale, issue 10): closing it makes the port refuse, so a load balancer moves
// new clients elsewhere, while the connections it accepted go on. In cluster mode the primary
// closes its shared socket once no worker listens, and opens it again for the first that does.
import type net from 'node:net';
import type { HostPort } from '../config/types.js';

export class AcceptSuspension {
  /** Where the server listened before suspend(); null while it accepts. */
  private at: HostPort | null = null;

  get suspended(): boolean {
    return this.at !== null;
  }

  /** Closes `server`, remembering `address` (its bound one: port 0 resolved). */
  suspend(server: net.Server | null, address: () => HostPort): void {
    if (!server?.listening || this.at) return;
    this.at = address();
    // close()'s callback waits for every accepted connection: nothing to wait for here.
    server.close();
  }

  /** Binds `server` again; a failure is reported and it stays suspended. */
  resume(server: net.Server | null, onError: (err: Error) => void): void {
    const at = this.at;
    if (!server || !at) return;
    this.at = null;
    const failed = (err: Error): void => {
      this.at = at;
      onError(err);
    };
    server.once('error', failed);
    server.listen({ host: at.host, port: at.port }, () => server.removeListener('error', failed));
  }
}
