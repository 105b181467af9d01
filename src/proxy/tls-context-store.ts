// The TLS context a terminated listener (ssl: terminate) hands each new client, and its
// rotation without dropping a session. A handshake takes the context current when it starts;
// sessions already in TLS keep theirs, so a swap never touches them.
//
// A new certificate comes three ways: a config reload (SIGHUP, POST /admin/reload: the config
// already re-read the files), a change in a watched directory (the files are re-read here), or
// both. Either way the new pair is built and checked first — the chain parses, the key is the
// certificate's, OpenSSL takes them — and only then swapped in. A bad pair keeps the old
// context and logs why (never the key). The directories are watched, not the files: Kubernetes
// rotates a secret volume by swapping a `..data` symlink, which a watch on the old file never
// sees. PEM from an environment variable is not watched; only a reload changes it.
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { ListenerTlsConfig, PemSource } from '../config/types.js';
import { inspectKeyPair } from '../config/tls-material.js';
import { describeError, errorLabel, PgrError } from '../errors.js';
import type { Logger } from '../log.js';

/** ALPN of PostgreSQL 17 direct TLS (required there, as PostgreSQL does). */
export const PG_ALPN = 'postgresql';

export interface TlsContextStoreOptions {
  readonly listener: string;
  readonly logger: Logger;
  /** Quiet time after the last change in a watched directory before re-reading (a rotation writes several files). */
  readonly debounceMs?: number;
  readonly readFile?: (file: string) => string;
}

/** What a context is built from: the PEM texts and the oldest TLS version; equal inputs make an equal context. */
interface Material {
  readonly cert: string;
  readonly key: string;
  readonly clientCa: string | null;
  readonly minVersion: ListenerTlsConfig['min_version'];
}

interface Built {
  readonly material: Material;
  readonly context: tls.SecureContext;
  readonly notAfter: number;
  readonly leafDer: Buffer;
  readonly subject: string;
}

export const DEFAULT_DEBOUNCE_MS = 200;

export class TlsContextStore {
  private cfg: ListenerTlsConfig;
  private built: Built;
  private watchers: fs.FSWatcher[] = [];
  private watched: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly readFile: (file: string) => string;

  constructor(
    cfg: ListenerTlsConfig,
    private readonly opts: TlsContextStoreOptions,
  ) {
    this.cfg = cfg;
    this.readFile = opts.readFile ?? ((file) => fs.readFileSync(file, 'utf8'));
    const first = build(materialOf(cfg));
    if (!first.ok) throw new PgrError('PGR_ERR_TLS', `listener ${opts.listener}: the TLS certificate cannot be used: ${first.message}`);
    this.built = first.value;
  }

  /** The context for a handshake starting now. */
  get context(): tls.SecureContext {
    return this.built.context;
  }

  /** The leaf's notAfter (epoch ms), for pgrouter_tls_cert_expiry_timestamp_seconds. */
  get notAfter(): number {
    return this.built.notAfter;
  }

  /** The leaf in DER: SCRAM channel binding works when PostgreSQL presents this very certificate. */
  get leafDer(): Buffer {
    return this.built.leafDer;
  }

  /** client_ca set: clients must present a certificate it signed. */
  get verifyClients(): boolean {
    return this.cfg.client_ca !== null;
  }

  /** Watches the directories of the certificate files. */
  start(): void {
    this.running = true;
    this.watch();
  }

  /** Stops watching (a listener that no longer accepts); the current context stays usable. */
  close(): void {
    this.running = false;
    this.unwatch();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A config reload: its PEM texts were just read by the config loader. */
  update(cfg: ListenerTlsConfig): void {
    const previous = this.cfg;
    this.cfg = cfg;
    this.swap(materialOf(cfg), 'reload');
    if (this.running && watchKey(previous) !== watchKey(cfg)) this.watch();
  }

  /** Re-reads the watched files now (what a change in their directory triggers after the debounce). */
  reread(): void {
    const read = (source: PemSource): string | null => {
      if (source.path === null) return source.pem;
      try {
        return this.readFile(source.path);
      } catch (err) {
        this.opts.logger.warn({ event: 'tls_reload_failed', listener: this.opts.listener, file: source.path, reason: errorLabel(err) }, 'cannot re-read a TLS file, the current certificate stays');
        return null;
      }
    };
    const cert = read(this.cfg.cert);
    const key = read(this.cfg.key);
    const clientCa = this.cfg.client_ca === null ? null : read(this.cfg.client_ca);
    if (cert === null || key === null || (this.cfg.client_ca !== null && clientCa === null)) return;
    this.swap({ cert, key, clientCa, minVersion: this.cfg.min_version }, 'watch');
  }

  private swap(material: Material, source: 'reload' | 'watch'): void {
    const { logger, listener } = this.opts;
    if (sameMaterial(material, this.built.material)) return;
    const next = build(material);
    if (!next.ok) {
      logger.error({ event: 'tls_reload_failed', listener, source, reason: next.message }, `new TLS certificate rejected, the current one stays: ${next.message}`);
      return;
    }
    this.built = next.value;
    const notAfter = new Date(next.value.notAfter).toISOString();
    logger.info({ event: 'tls_reloaded', listener, source, subject: next.value.subject, not_after: notAfter }, 'TLS certificate replaced');
  }

  private watch(): void {
    this.unwatch();
    const dirs = new Set([this.cfg.cert, this.cfg.key, this.cfg.client_ca].flatMap((s) => (s?.path ? [path.dirname(s.path)] : [])));
    for (const dir of dirs) {
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.changed());
        w.on('error', (err) => {
          this.opts.logger.warn({ event: 'tls_watch_failed', listener: this.opts.listener, dir, reason: describeError(err) }, 'stopped watching a TLS directory');
          w.close();
        });
        this.watchers.push(w);
        this.watched.push(dir);
      } catch (err) {
        // Rotation then needs a reload (SIGHUP); the certificate in use is fine.
        this.opts.logger.warn({ event: 'tls_watch_failed', listener: this.opts.listener, dir, reason: errorLabel(err) }, 'cannot watch a TLS directory; reload to rotate');
      }
    }
  }

  private unwatch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.watched = [];
  }

  private changed(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.running) this.reread();
    }, this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.timer.unref();
  }

  /** The directories watched now. */
  watching(): readonly string[] {
    return this.watched;
  }
}

function materialOf(cfg: ListenerTlsConfig): Material {
  return { cert: cfg.cert.pem, key: cfg.key.pem, clientCa: cfg.client_ca?.pem ?? null, minVersion: cfg.min_version };
}

function sameMaterial(a: Material, b: Material): boolean {
  return a.cert === b.cert && a.key === b.key && a.clientCa === b.clientCa && a.minVersion === b.minVersion;
}

function watchKey(cfg: ListenerTlsConfig): string {
  return [cfg.cert.path, cfg.key.path, cfg.client_ca?.path].join('\0');
}

type BuildResult = { ok: true; value: Built } | { ok: false; message: string };

function build(material: Material): BuildResult {
  const pair = inspectKeyPair(material.cert, material.key);
  if (!pair.ok) return pair;
  try {
    const context = tls.createSecureContext({
      cert: material.cert,
      key: material.key,
      minVersion: material.minVersion,
      ...(material.clientCa === null ? {} : { ca: material.clientCa }),
    });
    return { ok: true, value: { material, context, ...pair.value } };
  } catch (err) {
    return { ok: false, message: `OpenSSL refused the certificate or key (${describeError(err)})` };
  }
}
