// Which relay engine a data path uses (config `relay`), once per process: the engine cannot
// change under running sessions, so a reload that changes `relay` waits for a restart.
//   - auto (the default): native when the addon loads here, else JS, with one warning naming why;
//   - native: the addon is required; without it the start fails (PGR_ERR_RELAY_UNAVAILABLE);
//   - js: every session in the JS relay.
import { PgrError } from '../errors.js';
import type { Logger } from '../log.js';
import { NativeRelayEngine } from './handover-relay.js';
import { JS_RELAY } from './js-relay.js';
import { nativeSessions } from './native-engine.js';
import type { RelayEngine } from './relay.js';

export type RelayMode = 'auto' | 'native' | 'js';

export interface RelayChoice {
  readonly mode: RelayMode;
  readonly engine: RelayEngine;
  /** Why the native engine is not in use although the mode asked for it (auto: a warning; native: the start fails). */
  readonly unavailable: PgrError | null;
}

/**
 * Picks the engine for `mode` (or takes `given`, tests); never throws: checkRelayChoice() fails
 * the start for a `native` that is unavailable.
 */
export function chooseRelayEngine(mode: RelayMode, logger: Logger, given?: RelayEngine): RelayChoice {
  if (given) return { mode, engine: given, unavailable: null };
  if (mode === 'js') return { mode, engine: JS_RELAY, unavailable: null };
  try {
    return { mode, engine: new NativeRelayEngine(nativeSessions(logger), logger), unavailable: null };
  } catch (err) {
    const why = err instanceof PgrError ? err : new PgrError('PGR_ERR_RELAY_START', `the native relay cannot start: ${String(err)}`, { cause: err });
    return { mode, engine: JS_RELAY, unavailable: why };
  }
}

/**
 * At start: logs the engine in use (one line per process, a warning when `auto` fell back to
 * JS), or throws PGR_ERR_RELAY_UNAVAILABLE when `native` was asked for and is not available.
 */
export function checkRelayChoice(choice: RelayChoice, logger: Logger): void {
  const { mode, engine, unavailable } = choice;
  if (unavailable && mode === 'native') throw unavailable;
  if (unavailable) {
    logger.warn({ event: 'relay_engine', engine: engine.name, mode, err: unavailable.message }, `the native relay is not available, relaying in JS: ${unavailable.message}`);
    return;
  }
  logger.info({ event: 'relay_engine', engine: engine.name, mode }, `relay engine: ${engine.name}`);
}
