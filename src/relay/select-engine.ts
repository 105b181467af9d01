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
import type { RelayReport } from '../sessions/types.js';
import type { RelayEngine } from './relay.js';

export type RelayMode = 'auto' | 'native' | 'js';

/** config.relay resolved to an engine, once per process; check() at start, report() for stats. */
export class RelayChoice {
  constructor(
    readonly mode: RelayMode,
    readonly engine: RelayEngine,
    /** Why the native engine is not in use although the mode asked for it (auto: a warning; native: the start fails). */
    readonly unavailable: PgrError | null,
  ) {}

  /**
   * At start: logs the engine in use (one line per process, a warning when `auto` fell back to
   * JS), or throws PGR_ERR_RELAY_UNAVAILABLE when `native` was asked for and is not available.
   */
  check(logger: Logger): void {
    const { mode, engine, unavailable } = this;
    if (unavailable && mode === 'native') throw unavailable;
    if (unavailable) {
      logger.warn({ event: 'relay_engine', engine: engine.name, mode, err: unavailable.message }, `the native relay is not available, relaying in JS: ${unavailable.message}`);
      return;
    }
    logger.info({ event: 'relay_engine', engine: engine.name, mode }, `relay engine: ${engine.name}`);
  }

  /** The engine in use and what it did (stats, pgrouter_relay_engine). */
  report(): RelayReport {
    return this.engine.report();
  }
}

/**
 * Picks the engine for `mode` (or takes `given`, tests); never throws: RelayChoice.check() fails
 * the start for a `native` that is unavailable.
 */
export function chooseRelayEngine(mode: RelayMode, logger: Logger, given?: RelayEngine): RelayChoice {
  if (given) return new RelayChoice(mode, given, null);
  if (mode === 'js') return new RelayChoice(mode, JS_RELAY, null);
  try {
    return new RelayChoice(mode, new NativeRelayEngine(nativeSessions(logger), logger), null);
  } catch (err) {
    const why = err instanceof PgrError ? err : new PgrError('PGR_ERR_RELAY_START', `the native relay cannot start: ${String(err)}`, { cause: err });
    return new RelayChoice(mode, JS_RELAY, why);
  }
}
