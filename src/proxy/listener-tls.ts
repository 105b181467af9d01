// A listener's TLS material (issue 11): the store of the certificate its clients get with
// ssl: terminate, and the check a reload runs before it changes anything.
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { upstreamTlsOf } from './backend-tls.js';
import { TlsContextStore } from './tls-context-store.js';

export function tlsStoreFor(listener: ListenerConfig, logger: Logger): TlsContextStore | null {
  if (listener.ssl !== 'terminate' || listener.tls === null) return null;
  return new TlsContextStore(listener.tls, { listener: listener.name, logger });
}

/** Builds a listener's TLS contexts once, to throw PGR_ERR_TLS before a reload changes anything. */
export function checkListenerTls(listener: ListenerConfig, logger: Logger): void {
  upstreamTlsOf(listener.name, listener.server_tls);
  tlsStoreFor(listener, logger);
}
