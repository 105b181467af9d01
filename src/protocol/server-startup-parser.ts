// Incremental observer of the server stream during the startup phase only (PURE).
//
// PostgreSQL docs, "Message Flow / Start-up": after the StartupMessage the server sends
// authentication requests ('R'), ParameterStatus ('S'), BackendKeyData ('K'), maybe
// NegotiateProtocolVersion ('v') or notices ('N'), and ends the phase with ReadyForQuery ('Z')
// or an ErrorResponse ('E', then it closes). Every message is Byte1 type + Int32 length
// (including itself). We only need BackendKeyData (Int32 pid + secret key; the key is 4 bytes
// in protocol 3.0 and 4..256 bytes in 3.2, so the message length tells its size) to route
// cancel requests to the exact backend. The bytes are relayed untouched by the caller; this
// reducer only watches them, never buffers more than one header and one BackendKeyData body,
// and the caller stops feeding it once `phase` leaves 'startup' (pure byte relay from then on).
//
// With a KeyRewrite (cancel.rewrite_keys, issue 10) it also replaces the BackendKeyData body in
// the chunks it is fed, in place and byte for byte (the length never changes, so neither do the
// relay's counts), with a key pgrouter made: the client holds that one, the state keeps both.
import { MAX_CANCEL_KEY, MIN_CANCEL_KEY, type BackendKey } from './cancel-key.js';

/** Makes the key a client is given instead of the server's: the server's key length in, a key out. */
export type KeyRewrite = (keyLength: number) => BackendKey;

export interface ServerStartupState {
  /** startup: still parsing; ready: ReadyForQuery seen; error: ErrorResponse seen; invalid: not the protocol. */
  readonly phase: 'startup' | 'ready' | 'error' | 'invalid';
  readonly backendKey: BackendKey | null;
  /** With a KeyRewrite: the key written over backendKey in the stream (what the client holds). */
  readonly clientKey: BackendKey | null;
  /** With a KeyRewrite: the BackendKeyData body being written over the server's (pid + key). */
  readonly replacement: Buffer | null;
  /** Why the stream is invalid (phase 'invalid'). */
  readonly reason: string | null;
  /** Bytes of the current message header read so far (< 5). */
  readonly header: Buffer;
  /** Type byte of the message whose body is being read (0 while reading a header). */
  readonly type: number;
  /** Body bytes of the current message still to come. */
  readonly remaining: number;
  /** The BackendKeyData body collected so far; null for every other message (skipped, not kept). */
  readonly body: Buffer | null;
}

const HEADER_LENGTH = 5;
const TYPE_READY = 0x5a; // 'Z'
const TYPE_ERROR = 0x45; // 'E'
const TYPE_KEY = 0x4b; // 'K'

export function initialServerStartup(): ServerStartupState {
  return { phase: 'startup', backendKey: null, clientKey: null, replacement: null, reason: null, header: Buffer.alloc(0), type: 0, remaining: 0, body: null };
}

/**
 * Feeds one chunk of server bytes; returns the new state (the input state is not modified).
 * With `rewrite`, the BackendKeyData body inside `chunk` is overwritten in place.
 */
export function feedServerStartup(state: ServerStartupState, chunk: Buffer, rewrite?: KeyRewrite): ServerStartupState {
  if (state.phase !== 'startup') return state;
  let { header, type, remaining, body, backendKey, clientKey, replacement } = state;
  let pos = 0;
  while (pos < chunk.length) {
    if (type === 0) {
      const take = Math.min(HEADER_LENGTH - header.length, chunk.length - pos);
      header = Buffer.concat([header, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (header.length < HEADER_LENGTH) break;
      const length = header.readUInt32BE(1);
      type = header[0] ?? 0;
      header = Buffer.alloc(0);
      if (length < 4) return invalidState(backendKey, clientKey, `message '${String.fromCharCode(type)}' with length ${length}`);
      remaining = length - 4;
      if (type === TYPE_KEY) {
        const keyLength = remaining - 4;
        if (keyLength < MIN_CANCEL_KEY || keyLength > MAX_CANCEL_KEY) {
          return invalidState(backendKey, clientKey, `BackendKeyData with a ${keyLength}-byte key`);
        }
        body = Buffer.alloc(0);
        replacement = rewrite ? keyDataBody(rewrite(keyLength)) : null;
        // Byte for byte or not at all: a rewrite of another length would corrupt the stream.
        if (replacement !== null && replacement.length !== remaining) replacement = null;
      }
    } else {
      const take = Math.min(remaining, chunk.length - pos);
      if (body !== null) {
        const at = body.length;
        body = Buffer.concat([body, chunk.subarray(pos, pos + take)]);
        // The original bytes are kept above; the client gets the replacement's.
        replacement?.copy(chunk, pos, at, at + take);
      }
      pos += take;
      remaining -= take;
    }
    if (type !== 0 && remaining === 0) {
      if (type === TYPE_READY) return { ...endState(backendKey, clientKey), phase: 'ready' };
      if (type === TYPE_ERROR) return { ...endState(backendKey, clientKey), phase: 'error' };
      if (type === TYPE_KEY && body !== null) {
        backendKey = { pid: body.readUInt32BE(0), key: Buffer.from(body.subarray(4)) };
        if (replacement) clientKey = { pid: replacement.readUInt32BE(0), key: Buffer.from(replacement.subarray(4)) };
      }
      type = 0;
      body = null;
      replacement = null;
    }
  }
  return { phase: 'startup', backendKey, clientKey, replacement, reason: null, header, type, remaining, body };
}

/** A BackendKeyData body: Int32 process id, then the secret key. */
function keyDataBody(key: BackendKey): Buffer {
  const out = Buffer.alloc(4 + key.key.length);
  out.writeUInt32BE(key.pid >>> 0, 0);
  key.key.copy(out, 4);
  return out;
}

function endState(backendKey: BackendKey | null, clientKey: BackendKey | null): ServerStartupState {
  return { ...initialServerStartup(), backendKey, clientKey };
}

function invalidState(backendKey: BackendKey | null, clientKey: BackendKey | null, reason: string): ServerStartupState {
  return { ...initialServerStartup(), backendKey, clientKey, phase: 'invalid', reason };
}

/** Largest first-message ErrorResponse we hold back to read its SQLSTATE (bigger ones are relayed). */
export const MAX_HELD_ERROR = 16_384;

export type FirstServerMessage =
  | { readonly kind: 'incomplete' }
  /** The server refused the startup with an ErrorResponse ("Message Formats: ErrorResponse", field C). */
  | { readonly kind: 'error'; readonly sqlstate: string | null }
  | { readonly kind: 'other' };

/**
 * Classifies the first message of the server's answer to a StartupMessage (PURE, never throws).
 * A server that is starting up, shutting down or not accepting connections answers with a
 * single ErrorResponse (SQLSTATE 57P03) and closes: that can be retried on another backend
 * before the client has seen a byte.
 */
export function firstServerMessage(buf: Buffer): FirstServerMessage {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (buf[0] !== TYPE_ERROR) return { kind: 'other' };
  if (buf.length < HEADER_LENGTH) return { kind: 'incomplete' };
  const length = buf.readUInt32BE(1);
  if (length < 4 || length > MAX_HELD_ERROR) return { kind: 'other' };
  if (buf.length < 1 + length) return { kind: 'incomplete' };
  let pos = HEADER_LENGTH;
  const end = 1 + length;
  while (pos < end && buf[pos] !== 0) {
    const type = buf[pos];
    const nul = buf.indexOf(0, pos + 1);
    if (nul < 0 || nul >= end) break;
    if (type === 0x43 /* 'C' */) return { kind: 'error', sqlstate: buf.toString('latin1', pos + 1, nul) };
    pos = nul + 1;
  }
  return { kind: 'error', sqlstate: null };
}
