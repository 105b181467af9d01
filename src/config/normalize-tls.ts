// TLS client material (etcd, Patroni REST probes): a CA to trust, and an optional client
// certificate with its key. Each is a file path or a {file}/{env} secret; the config keeps
// the PEM text, so a file that is missing or not PEM is reported at load, not at the first
// handshake.
import type { TlsFiles } from './types.js';
import type { KeyPath } from './path.js';
import { has, type Report } from './normalize-values.js';
import { resolveSecret, type SecretContext, type SecretSource } from './secrets.js';

export interface RawTlsFiles {
  readonly ca?: SecretSource;
  readonly cert?: SecretSource;
  readonly key?: SecretSource;
}

export function normalizeTlsFiles(raw: RawTlsFiles | undefined, at: KeyPath, ctx: SecretContext, report: Report): TlsFiles {
  const t = raw ?? {};
  if (has(t, 'cert') && !has(t, 'key')) report([...at, 'cert'], 'cert is set but key is not (a client certificate needs its key)');
  if (has(t, 'key') && !has(t, 'cert')) report([...at, 'key'], 'key is set but cert is not (a client key needs its certificate)');
  const read = (name: 'ca' | 'cert' | 'key'): string | null => {
    const source = t[name];
    if (source === undefined) return null;
    const resolved = resolveSecret(source, 'pem-path', ctx);
    if (resolved.ok) return resolved.value;
    report([...at, name], resolved.message);
    return null;
  };
  return { ca: read('ca'), cert: read('cert'), key: read('key') };
}
