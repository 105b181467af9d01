// Loading the native relay addon (native/, built by scripts/build-native.js at npm ci) and the
// shape of what it exports. Loaded once, on first use; a host where it cannot load (another
// OS, a failed build) gets the reason from loadError() and keeps the JavaScript relay.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeRelayError } from './native-error.js';
import type { NativeEndReason, NativeRelayStats, NativeStrategy } from './native-relay.js';

export interface RawSocketDetails {
  fd: number;
  keepalive: number;
  keepIdle: number;
  noDelay: number;
}

export interface RawEnd {
  id: number;
  reason: NativeEndReason;
  bytesIn: number;
  bytesOut: number;
  errno: number;
  killReason?: string;
}

export interface AddonRelay {
  adopt(clientFd: number, serverFd: number, clientIdleMs: number, serverIdleMs: number): number;
  kill(id: number, reason: string): boolean;
  killAll(reason: string): number;
  close(reason: string): void;
  stats(): NativeRelayStats;
  inspect(id: number): [RawSocketDetails, RawSocketDetails] | null;
}

export interface Addon {
  NativeRelay: new (options: {
    strategy: NativeStrategy;
    bufferSize: number;
    capacity: number;
    table: Float64Array;
    onEnd: (end: RawEnd) => void;
  }) => AddonRelay;
}

const ADDON_FILE = path.join('build', 'Release', 'pgrouter_relay.node');
let addon: Addon | null | undefined;
let failure: NativeRelayError | null = null;

/** build/Release/… of the checkout or package this module runs from (src/ or dist/src/). */
function addonPath(): string | null {
  const override = process.env.PGROUTER_RELAY_ADDON;
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = path.join(dir, ADDON_FILE);
    if (fs.existsSync(candidate)) return candidate;
    if (fs.existsSync(path.join(dir, 'package.json'))) return null;
    dir = path.dirname(dir);
  }
  return null;
}

/** The addon, loaded once; null (and failure set) when it cannot load here. */
export function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== 'linux') {
    failure = new NativeRelayError('PGR_ERR_RELAY_UNAVAILABLE', `the native relay needs Linux (epoll, splice), not ${process.platform}`);
    return null;
  }
  const file = addonPath();
  if (file === null) {
    failure = new NativeRelayError('PGR_ERR_RELAY_UNAVAILABLE', `the native relay is not built (${ADDON_FILE}): run \`npm run build:native\``);
    return null;
  }
  try {
    addon = createRequire(import.meta.url)(file) as Addon;
  } catch (err) {
    failure = new NativeRelayError('PGR_ERR_RELAY_UNAVAILABLE', `cannot load the native relay ${file}: ${String(err)}`, { cause: err });
  }
  return addon;
}

/** Whether the addon loads on this host (loaded once, on first use). */
export function available(): boolean {
  return loadAddon() !== null;
}

/** Why the addon does not load (null when it does). */
export function loadError(): NativeRelayError | null {
  loadAddon();
  return failure;
}
