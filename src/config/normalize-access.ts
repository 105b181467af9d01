// Who may connect to a listener: `proxy_protocol` (a PROXY header required from trusted
// sources) and `allow` (client address ranges, checked after the PROXY header). The schema has
// checked the shapes; this checks every CIDR and reports each bad one at its own path.
import type { Cidr, ProxyProtocolConfig } from './types.js';
import type { RawProxyProtocol } from './schema.js';
import type { KeyPath } from './path.js';
import { parseCidr } from './cidr.js';
import { DEFAULTS } from './defaults.js';
import type { Loose, Report } from './normalize-values.js';

/** The ranges that parse; the others are reported ("listeners[0].allow[1]: "10.0.0.0/33" is not a CIDR: ..."). */
export function cidrsAt(raw: readonly (string | undefined)[], at: KeyPath, report: Report): Cidr[] {
  const out: Cidr[] = [];
  raw.forEach((text, i) => {
    if (text === undefined) return;
    const parsed = parseCidr(text);
    if (parsed.ok) out.push(parsed.value);
    else report([...at, i], parsed.message);
  });
  return out;
}

export function normalizeProxyProtocol(raw: Loose<RawProxyProtocol> | undefined, at: KeyPath, report: Report): ProxyProtocolConfig | null {
  if (raw === undefined) return DEFAULTS.listener.proxy_protocol;
  return {
    accept: raw.accept ?? DEFAULTS.listener.proxy_accept,
    trusted: cidrsAt(raw.trusted ?? [], [...at, 'trusted'], report),
  };
}

export function normalizeAllow(raw: readonly (string | undefined)[] | undefined, at: KeyPath, report: Report): Cidr[] | null {
  return raw === undefined ? DEFAULTS.listener.allow : cidrsAt(raw, at, report);
}
