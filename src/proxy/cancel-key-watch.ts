// Learns a session's cancel key from the server's startup stream. The relay already runs (the
// client must see the server's answer as it comes), so this only watches the bytes going by:
// BackendKeyData is registered with the session registry, and at ReadyForQuery (or on bytes
// that are not the protocol) the watch ends and the session is a pure byte relay from then on.
// TLS passthrough sessions have none: their bytes are encrypted.
//
// With cancel.rewrite_keys (issue 10) it also writes the key the client gets over the server's,
// in the chunk before the relay sends it on (same length); the registry keeps both.
import type { Logger } from '../log.js';
import { feedServerStartup, initialServerStartup, type KeyRewrite, type ServerStartupState } from '../protocol/server-startup-parser.js';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.js';

export class CancelKeyWatch {
  private state: ServerStartupState = initialServerStartup();
  private readonly rewrite: KeyRewrite | undefined;

  constructor(
    private readonly record: SessionRecord,
    private readonly registry: SessionRegistry,
    private readonly logger: Logger,
    rewrite: KeyRewrite | null = null,
  ) {
    this.rewrite = rewrite ?? undefined;
  }

  /** Watches one chunk of server bytes (rewriting the key in it, in place); false once the startup phase is over. */
  feed(chunk: Buffer): boolean {
    const { record } = this;
    const next = feedServerStartup(this.state, chunk, this.rewrite);
    if (next.backendKey && !record.cancelKey) this.registry.setCancelKey(record, next.backendKey, next.clientKey ?? next.backendKey);
    if (next.phase === 'invalid') {
      this.logger.debug({ event: 'server_startup_unparsed', backend: record.backend, reason: next.reason }, 'stopped parsing the server startup');
    }
    this.state = next;
    return next.phase === 'startup';
  }
}
