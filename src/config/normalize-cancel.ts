// cancel: caps on the cancel fan-out and cancel key rewriting (issue 10). The peers map's keys
// are instance ids (0..255, not this instance's own), its values host:port addresses.
import type { CancelConfig, CancelPeer } from './types.js';
import type { RawConfig } from './schema.js';
import { DEFAULTS } from './defaults.js';
import type { Loose, Report } from './normalize-values.js';
import { parseHostPort } from './units.js';

type RawCancel = Loose<NonNullable<RawConfig['cancel']>>;

export function normalizeCancel(raw: RawCancel | undefined, report: Report): CancelConfig {
  const c = raw ?? {};
  const d = DEFAULTS.cancel;
  const instanceId = c.instance_id ?? d.instance_id;
  const peers: CancelPeer[] = [];
  for (const [key, address] of Object.entries(c.peers ?? {})) {
    const path = ['cancel', 'peers', key];
    const id = /^\d{1,3}$/.test(key) ? Number(key) : NaN;
    if (!(id >= 0 && id <= 255)) {
      report(path, `"${key}" is not an instance id (0 to 255)`);
      continue;
    }
    if (id === instanceId) {
      report(path, `instance ${id} is this router's own cancel.instance_id; a peer needs another one`);
      continue;
    }
    if (address === undefined) continue;
    const parsed = parseHostPort(address);
    if (!parsed.ok) {
      report(path, parsed.message);
      continue;
    }
    peers.push({ id, ...parsed.value });
  }
  const maxInflight = c.max_inflight ?? d.max_inflight;
  const perClient = c.max_inflight_per_client ?? d.max_inflight_per_client;
  if (perClient > maxInflight) {
    report(['cancel', 'max_inflight_per_client'], `${perClient} is more than cancel.max_inflight (${maxInflight})`);
  }
  const rewrite = c.rewrite_keys ?? d.rewrite_keys;
  if (!rewrite && (c.instance_id !== undefined || peers.length > 0)) {
    report(['cancel', c.instance_id !== undefined ? 'instance_id' : 'peers'], 'only applies with cancel.rewrite_keys: true');
  }
  return {
    max_inflight: maxInflight,
    max_inflight_per_client: perClient,
    rewrite_keys: rewrite,
    instance_id: instanceId,
    peers: peers.sort((a, b) => a.id - b.id),
  };
}
