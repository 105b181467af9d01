// Secrets (etcd password, TLS material, later the admin token) may live in the YAML, in an
// environment variable or in a file (Kubernetes/Docker secrets, systemd credentials), so that
// pgrouter.yaml itself can be world-readable. Messages name the key and the source, never the
// secret itself.
import { isAbsolute, resolve } from 'node:path';
import { errorLabel } from '../errors.js';
import type { UnitResult } from './units.js';

export interface SecretContext {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => string;
  /** Relative paths are read from here (the config file's directory), when known. */
  readonly baseDir: string | null;
}

export type SecretSource = string | { readonly env: string } | { readonly file: string };

/**
 * How a plain string is read:
 *  - literal: the string is the secret (passwords),
 *  - pem-path: the string is a path to a PEM file (TLS ca/cert/key).
 */
export type SecretKind = 'literal' | 'pem-path';

export function resolveSecret(source: SecretSource, kind: SecretKind, ctx: SecretContext): UnitResult<string> {
  if (typeof source === 'string') {
    return kind === 'literal' ? { ok: true, value: source } : readPem(source, ctx);
  }
  if ('env' in source) {
    const value = ctx.env[source.env];
    if (value === undefined || value === '') {
      return { ok: false, message: `environment variable ${source.env} is not set` };
    }
    return kind === 'literal' ? { ok: true, value } : checkPem(value, `environment variable ${source.env}`);
  }
  if (kind === 'pem-path') return readPem(source.file, ctx);
  const read = readText(source.file, ctx);
  if (!read.ok) return read;
  // `echo secret > file` adds a newline that is not part of the password.
  const value = read.value.replace(/\r?\n$/, '');
  return value === '' ? { ok: false, message: `${read.path} is empty` } : { ok: true, value };
}

/**
 * Where a PEM source is read from: the path of a plain string or `{ file }` (relative to the
 * config file's directory), so that a certificate can be watched and re-read; null for `{ env }`.
 */
export function pemSourcePath(source: SecretSource, ctx: SecretContext): string | null {
  if (typeof source === 'string') return resolve(fullPath(source, ctx));
  return 'file' in source ? resolve(fullPath(source.file, ctx)) : null;
}

function fullPath(path: string, ctx: SecretContext): string {
  return ctx.baseDir !== null && !isAbsolute(path) ? resolve(ctx.baseDir, path) : path;
}

function readPem(path: string, ctx: SecretContext): UnitResult<string> {
  const read = readText(path, ctx);
  return read.ok ? checkPem(read.value, read.path) : read;
}

/** Catches a path put where PEM text belongs (or the reverse) before etcd's TLS handshake does. */
function checkPem(text: string, where: string): UnitResult<string> {
  if (!text.includes('-----BEGIN ')) return { ok: false, message: `${where} does not contain PEM data (no -----BEGIN line)` };
  return { ok: true, value: text };
}

function readText(
  path: string,
  ctx: SecretContext,
): { ok: true; value: string; path: string } | { ok: false; message: string } {
  const full = fullPath(path, ctx);
  try {
    return { ok: true, value: ctx.readFile(full), path: full };
  } catch (err) {
    // The reason (ENOENT, EACCES) is what an operator needs; the text of fs errors repeats the path.
    return { ok: false, message: `cannot read ${full} (${errorLabel(err)})` };
  }
}
