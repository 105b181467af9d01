// The IPC protocol between the primary (discovery, HTTP, supervisor) and its data-path workers.
// Every message is a plain JSON object `{ pgr: IPC_VERSION, type, ... }` sent over the
// node:cluster channel (JSON serialization). `pgr` tells our messages apart from others on the
// same channel (prom-client's, a library's) and refuses a worker built from another version of
// pgrouter (a half-upgraded dist/). Every message received is validated; a malformed one is
// logged and dropped by the caller, it never throws into the event loop.
//
// primary → worker                               worker → primary
//   init          config + first view + admin      hello            module loaded, listening
//                 states: the worker binds only    ready            listeners bound (addresses)
//                 after it has all three           start_failed     bind error etc.; it exits
//   view          every published ClusterView      cancel_key       learned BackendKeyData
//   heartbeat     alive, newest view's generation
//   admin_states  operator states (drain/maint)    cancel_key_gone  its session ended
//   paused_listeners  listeners the operator paused (issue 13; also in init)
//   kill_backend  close sessions on a member       cancel_lookup    unknown key: who owns it?
//   query         stats | sessions | metrics       reply            answer to kill/query
//   cancel_owner  answer to cancel_lookup
//   drain         reload: stop accepting, keep sessions, exit when the last one ends or at
//                 its deadline (timeouts.reload_drain), closing what is left
//   shutdown      stop: stop accepting, close sessions after graceMs, exit
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Config } from '../config/types.js';
import type { ClusterView } from '../view/cluster-view.js';
import type { AdminStates } from '../routing/eligible.js';
import { KILL_REASONS } from '../routing/kill.js';
import type { PausedListeners } from '../routing/pause.js';
import { MAX_CANCEL_KEY, MIN_CANCEL_KEY } from '../protocol/cancel-key.js';

/** Bumped on any incompatible change of a message below. */
export const IPC_VERSION = 1;

const Opaque = <T>() => Type.Unsafe<T>(Type.Object({}, { additionalProperties: true }));
const Id = Type.Integer({ minimum: 0 });
const Pid = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
/** base64 of 4..256 bytes (protocol 3.2 allows keys up to 256 bytes). */
const KeyB64 = Type.String({ minLength: 4, maxLength: 4 * Math.ceil(MAX_CANCEL_KEY / 3), pattern: '^[A-Za-z0-9+/]+={0,2}$' });
const Text = Type.String({ maxLength: 4096 });
const HostPort = Type.Object({ host: Type.String({ minLength: 1, maxLength: 1024 }), port: Type.Integer({ minimum: 0, maximum: 65535 }) });
/** A cancel key's owner; pid and key are the backend's own when the client holds a rewritten one. */
const Owner = Type.Object({ ...HostPort.properties, pid: Type.Optional(Pid), key: Type.Optional(KeyB64) });

/** A ClusterView is checked for what the worker acts on; the rest is carried as is. */
const View = Type.Unsafe<ClusterView>(
  Type.Object(
    { generation: Id, primary: Type.Union([Type.String(), Type.Null()]), members: Type.Array(Type.Object({ name: Type.String() }, { additionalProperties: true })) },
    { additionalProperties: true },
  ),
);
const States = Type.Unsafe<AdminStates>(
  Type.Record(Type.String(), Type.Union([Type.Literal('ready'), Type.Literal('drain'), Type.Literal('maint')])),
);

const Paused = Type.Unsafe<PausedListeners>(
  Type.Record(Type.String(), Type.Object({ since: Type.Number(), hold_ms: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }) }, { additionalProperties: false })),
);

function msg<T extends string, P extends Record<string, TSchema>>(type: T, props: P) {
  return Type.Object({ pgr: Type.Literal(IPC_VERSION), type: Type.Literal(type), ...props }, { additionalProperties: false });
}

export const QUERIES = ['stats', 'sessions', 'metrics'] as const;
export type QueryKind = (typeof QUERIES)[number];

const ToWorker = Type.Union([
  msg('init', {
    /** Config generation: bumped by every reload, so logs tell old workers from new ones. */
    generation: Id,
    config: Opaque<Config>(),
    view: View,
    admin: States,
    /** Optional: a primary from before issue 13 sends none (nothing paused). */
    paused: Type.Optional(Paused),
    log: Type.Object({ level: Type.String(), format: Type.Union([Type.Literal('json'), Type.Literal('pretty')]) }),
    /** The primary's heartbeat period, and how many missed ones make the worker's view stale. */
    heartbeat: Type.Object({ intervalMs: Type.Integer({ minimum: 1 }), missed: Type.Integer({ minimum: 1 }) }),
  }),
  msg('view', { view: View }),
  /** Every heartbeat.intervalMs: the primary is alive, and its newest view has this generation. */
  msg('heartbeat', { generation: Id }),
  msg('admin_states', { states: States }),
  msg('paused_listeners', { paused: Paused }),
  msg('kill_backend', { requestId: Id, member: Type.String({ minLength: 1 }), reason: Type.Union(KILL_REASONS.map((r) => Type.Literal(r))) }),
  msg('query', { requestId: Id, what: Type.Union(QUERIES.map((q) => Type.Literal(q))) }),
  msg('cancel_owner', { requestId: Id, owner: Type.Union([Owner, Type.Null()]) }),
  /** deadlineMs: timeouts.reload_drain; the sessions still open then are closed (issue 10). */
  msg('drain', { deadlineMs: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }) }),
  msg('shutdown', { graceMs: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }) }),
]);

const ToPrimary = Type.Union([
  msg('hello', { pid: Id }),
  msg('ready', { addresses: Type.Record(Type.String(), HostPort) }),
  msg('start_failed', { error: Text, code: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]) }),
  /** pid/key: what the client holds (the lookup key); realPid/realKey: the backend's, when rewritten. */
  msg('cancel_key', {
    pid: Pid,
    key: KeyB64,
    backendHost: Type.String({ minLength: 1, maxLength: 1024 }),
    backendPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    sessionId: Type.String({ maxLength: 64 }),
    realPid: Type.Optional(Pid),
    realKey: Type.Optional(KeyB64),
  }),
  msg('cancel_key_gone', { pid: Pid, key: KeyB64 }),
  msg('cancel_lookup', { requestId: Id, pid: Pid, key: KeyB64 }),
  msg('reply', { requestId: Id, ok: Type.Literal(true), data: Type.Unknown() }),
  msg('reply', { requestId: Id, ok: Type.Literal(false), error: Text }),
]);

export type ToWorkerMessage = Static<typeof ToWorker>;
export type ToPrimaryMessage = Static<typeof ToPrimary>;

/** Distributes Omit over a union, so each member keeps its own fields. */
type Unversioned<M> = M extends unknown ? Omit<M, 'pgr'> : never;
export type ToWorkerBody = Unversioned<ToWorkerMessage>;
export type ToPrimaryBody = Unversioned<ToPrimaryMessage>;

export type Parsed<M> =
  | { readonly kind: 'message'; readonly message: M }
  /** Not a pgrouter message (no `pgr` field): someone else's traffic on the channel; ignore it. */
  | { readonly kind: 'foreign' }
  | { readonly kind: 'invalid'; readonly reason: string };

type Compiled = ReturnType<typeof TypeCompiler.Compile>;

/** One compiled schema per message type (two for `reply`), so errors name the field at fault. */
function byType(union: { anyOf: TSchema[] }): Map<string, Compiled[]> {
  const out = new Map<string, Compiled[]>();
  for (const schema of union.anyOf) {
    const type = (schema as unknown as { properties: { type: { const: string } } }).properties.type.const;
    out.set(type, [...(out.get(type) ?? []), TypeCompiler.Compile(schema)]);
  }
  return out;
}

const toWorker = byType(ToWorker);
const toPrimary = byType(ToPrimary);

function parse<M>(schemas: Map<string, Compiled[]>, value: unknown): Parsed<M> {
  if (value === null || typeof value !== 'object' || !('pgr' in value)) return { kind: 'foreign' };
  const v = value as { pgr: unknown; type?: unknown };
  if (v.pgr !== IPC_VERSION) return { kind: 'invalid', reason: `IPC version ${String(v.pgr)}, expected ${IPC_VERSION}` };
  const type = typeof v.type === 'string' ? v.type.slice(0, 40) : null;
  const variants = type === null ? undefined : schemas.get(type);
  if (!variants) return { kind: 'invalid', reason: `unknown message type ${JSON.stringify(type)}` };
  if (variants.some((c) => c.Check(value))) return { kind: 'message', message: value as M };
  const first = variants[0] ? [...variants[0].Errors(value)][0] : undefined;
  const where = first ? `${first.path || '/'}: ${first.message}` : 'does not match';
  return { kind: 'invalid', reason: `malformed ${type} message (${where})` };
}

export function parseToWorker(value: unknown): Parsed<ToWorkerMessage> {
  return parse<ToWorkerMessage>(toWorker, value);
}

export function parseToPrimary(value: unknown): Parsed<ToPrimaryMessage> {
  const parsed = parse<ToPrimaryMessage>(toPrimary, value);
  if (parsed.kind !== 'message') return parsed;
  const m = parsed.message;
  // The schema bounds the base64 text; the decoded length is what the protocol bounds.
  if (m.type === 'cancel_key' || m.type === 'cancel_key_gone' || m.type === 'cancel_lookup') {
    for (const k of [m.key, m.type === 'cancel_key' ? m.realKey : undefined]) {
      if (k === undefined) continue;
      const n = Buffer.from(k, 'base64').length;
      if (n < MIN_CANCEL_KEY || n > MAX_CANCEL_KEY) return { kind: 'invalid', reason: `${m.type}: cancel key of ${n} bytes` };
    }
  }
  return parsed;
}

/** Stamps the protocol version on a message body. */
export function envelope<B extends { type: string }>(body: B): B & { pgr: typeof IPC_VERSION } {
  return { pgr: IPC_VERSION, ...body };
}
