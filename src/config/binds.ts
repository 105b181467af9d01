// Two sockets cannot listen on the same address. A wildcard (0.0.0.0, or :: which is dual-stack
// on Linux by default) takes the port on every address, so it conflicts with any host on that
// port. Host names are not resolved here: "localhost" vs "127.0.0.1" is left to bind() itself.
import type { HostPort } from './types.js';
import type { KeyPath, PathIssue } from './path.js';
import { formatBind } from './units.js';

export interface BindUse {
  readonly path: KeyPath;
  /** How the first user is named in the message, e.g. "listeners[0]" or "http.bind". */
  readonly owner: string;
  readonly bind: HostPort;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

export function bindsOverlap(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port) return false;
  return a.host === b.host || WILDCARDS.has(a.host) || WILDCARDS.has(b.host);
}

/** One issue per use that overlaps an earlier one, naming the first earlier use it hits. */
export function bindConflicts(uses: readonly BindUse[]): PathIssue[] {
  const issues: PathIssue[] = [];
  uses.forEach((use, i) => {
    const earlier = uses.slice(0, i).find((u) => bindsOverlap(u.bind, use.bind));
    if (!earlier) return;
    const mine = formatAddress(use.bind);
    const theirs = formatAddress(earlier.bind);
    issues.push({
      path: use.path,
      message:
        mine === theirs
          ? `address ${mine} is already used by ${earlier.owner}`
          : `address ${mine} conflicts with ${earlier.owner} on ${theirs}`,
    });
  });
  return issues;
}

/** Always with a host: in a conflict message ":5432" would hide which address is meant. */
function formatAddress(bind: HostPort): string {
  return bind.host === '0.0.0.0' ? `0.0.0.0:${bind.port}` : formatBind(bind);
}
