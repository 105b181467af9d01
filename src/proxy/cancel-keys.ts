// Cancel keys pgrouter makes (cancel.rewrite_keys, issue 10): the client of a session whose
// BackendKeyData pgrouter sees is handed a key that names this router instance (and worker),
// with random bytes of the server's key length; the server's own key stays in the session
// record. A CancelRequest is then routed by its pid alone (cancelRoute, PURE): to this instance's
// sessions, to the peer instance it names, or nowhere. A key pgrouter never made (a TLS
// pass-through session's, or rewriting off) takes the old way: exact owner, else broadcast.
import { randomFillSync } from 'node:crypto';
import type { CancelConfig } from '../config/types.js';
import { decodeRewrittenPid, rewrittenPid, type BackendKey } from '../protocol/cancel-key.js';
import type { KeyRewrite } from '../protocol/server-startup-parser.js';
import { CancelLimiter } from './cancel-limiter.js';

export type CancelRoute =
  /** Not a key pgrouter made: the exact owner if known, else the listener's broadcast. */
  | { readonly kind: 'plain' }
  /** A key this instance made: its session (here or in another worker), or drop it. */
  | { readonly kind: 'own' }
  /** A key a peer instance made: forward the CancelRequest to it unchanged. */
  | { readonly kind: 'peer'; readonly id: number; readonly host: string; readonly port: number }
  /** A key made by an instance nobody here knows: drop it (a broadcast could not reach it). */
  | { readonly kind: 'unknown'; readonly instance: number };

const PLAIN: CancelRoute = Object.freeze({ kind: 'plain' });
const OWN: CancelRoute = Object.freeze({ kind: 'own' });

export function cancelRoute(pid: number, cancel: CancelConfig): CancelRoute {
  if (!cancel.rewrite_keys) return PLAIN;
  const made = decodeRewrittenPid(pid);
  if (made === null) return PLAIN;
  if (made.instance === cancel.instance_id) return OWN;
  const peer = cancel.peers.find((p) => p.id === made.instance);
  return peer ? { kind: 'peer', ...peer } : { kind: 'unknown', instance: made.instance };
}

/** The keys one data-path process hands out: its instance and worker slot, a counter, random bytes. */
export function keyRewriter(instance: number, slot: number, fill: (b: Buffer) => Buffer = randomFillSync): KeyRewrite {
  let counter = 0;
  return (keyLength: number): BackendKey => {
    counter = (counter + 1) & 0x3fff;
    return { pid: rewrittenPid(instance, slot, counter), key: fill(Buffer.alloc(keyLength)) };
  };
}

/** What a data path's cancels run with: the settings, the connection caps, the key maker. */
export interface CancelState {
  readonly config: CancelConfig;
  /** The worker slot its keys name. */
  readonly slot: number;
  readonly limiter: CancelLimiter;
  readonly rewrite: KeyRewrite | null;
}

/**
 * The state for `config` in worker `slot`. After a reload (`previous`) the caps' counts carry
 * over (connections in flight keep their slots) and so does the key maker, unless the instance
 * or rewrite_keys changed.
 */
export function cancelState(config: CancelConfig, slot: number, previous?: CancelState): CancelState {
  const limiter = previous?.limiter ?? new CancelLimiter(config);
  limiter.setLimits(config);
  const keep = previous && previous.config.rewrite_keys === config.rewrite_keys && previous.config.instance_id === config.instance_id;
  const rewrite = keep ? previous.rewrite : config.rewrite_keys ? keyRewriter(config.instance_id, slot) : null;
  return { config, slot, limiter, rewrite };
}
