// The URL a command on this host uses to reach one of the router's own sockets (http.bind for
// `pgrouter status`, admin.bind for `pgrouter pause|resume`).
import type { HostPort } from '../config/types.js';
import { hostPort } from '../config/units.js';

/** http://host:port of a bind; a wildcard (0.0.0.0, ::) becomes the loopback of its family. */
export function localUrl(bind: HostPort): string {
  const reachable = bind.host === '0.0.0.0' ? '127.0.0.1' : bind.host === '::' ? '::1' : bind.host;
  return `http://${hostPort(reachable, bind.port)}`;
}
