// Learns a session's cancel key from the server's startup stream. The relay already runs (the
// client must see the server's answer as it comes), so this only watches the bytes going by:
// BackendKeyData is registered with the session registry, and at ReadyForQuery (or on bytes
// that are not the protocol) the watch ends and the session is a pure byte relay from then on.
// TLS passthrough sessions have none: their bytes are encrypted.
import type { Logger } from '../log.js';
import { feedServerStartup, initialServerStartup, type ServerStartupState } from '../protocol/server-startup-parser.js';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.js';

export class CancelKeyWatch {
  private state: ServerStartupState = initialServerStartup();

  constructor(
    private readonly record: SessionRecord,
    private readonly registry: SessionRegistry,
    private readonly logger: Logger,
  ) {}

  /** Watches one chunk of server bytes; false once the startup phase is over. */
  feed(chunk: Buffer): boolean {
    const { record } = this;
    const next = feedServerStartup(this.state, chunk);
    if (next.backendKey && !record.cancelKey) this.registry.setCancelKey(record, next.backendKey);
    if (next.phase === 'invalid') {
      this.logger.debug({ event: 'server_startup_unparsed', backend: record.backend, reason: next.reason }, 'stopped parsing the server startup');
    }
    this.state = next;
    return next.phase === 'startup';
  }
}
