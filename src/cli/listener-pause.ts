// `pgrouter pause <listener> [--timeout 30s]` and `pgrouter resume <listener>` (issue 13): the
// admin API's POST /admin/listeners/<name>/pause|resume from the command line. The admin
// address comes from --url, or from admin.bind of --config (a wildcard becomes loopback); the
// token from PGROUTER_ADMIN_TOKEN, or from admin.token of --config, never from the command line
// (it would show in `ps` and the shell history).
import type { Config } from '../config/types.js';
import { ADMIN_TOKEN_ENV } from '../config/defaults.js';
import { describeError } from '../errors.js';
import { localUrl } from './local-url.js';

/** admin.bind as a URL this host can reach. */
export function adminUrl(config: Config): string {
  return localUrl(config.admin.bind);
}

export interface PauseCommand {
  readonly action: 'pause' | 'resume';
  readonly listener: string;
  /** pause only: how long new clients may wait, as given ("30s"); absent: the router's connect_wait. */
  readonly timeout?: string;
  readonly baseUrl: string;
  readonly token: string | null;
}

/** The token to send: the environment first (like the router itself), then the config. */
export function adminToken(env: NodeJS.ProcessEnv, config: Config | null): string | null {
  const fromEnv = env[ADMIN_TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return config?.admin.token ?? null;
}

/** Calls the admin API and prints its answer; 0 on success, 1 otherwise (with the reason on `err`). */
export async function runPauseCommand(cmd: PauseCommand, out: NodeJS.WritableStream, err: NodeJS.WritableStream, timeoutMs = 5_000): Promise<number> {
  const name = `pgrouter ${cmd.action}`;
  if (cmd.token === null) {
    err.write(`${name}: no admin token: set ${ADMIN_TOKEN_ENV} or admin.token in the config given with --config\n`);
    return 1;
  }
  const url = `${cmd.baseUrl.replace(/\/+$/, '')}/admin/listeners/${encodeURIComponent(cmd.listener)}/${cmd.action}`;
  const body = cmd.action === 'pause' && cmd.timeout !== undefined ? { timeout: cmd.timeout } : {};
  let res: Response;
  let answer: Record<string, unknown>;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${cmd.token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    answer = (await res.json()) as Record<string, unknown>;
  } catch (e) {
    const cause = e instanceof Error && e.cause !== undefined ? describeError(e.cause) : describeError(e);
    err.write(`${name}: cannot reach the admin API at ${url} (${cause}); is the router running with an admin token, and is admin.bind right?\n`);
    return 1;
  }
  if (!res.ok) {
    err.write(`${name}: ${url} answered HTTP ${res.status}: ${typeof answer.message === 'string' ? answer.message : JSON.stringify(answer)}\n`);
    return 1;
  }
  if (cmd.action === 'pause') {
    out.write(`listener ${cmd.listener} paused: new clients wait up to ${String(answer.hold_ms)} ms (pgrouter resume ${cmd.listener} releases them)\n`);
  } else {
    out.write(answer.was_paused === true ? `listener ${cmd.listener} resumed\n` : `listener ${cmd.listener} was not paused\n`);
  }
  return 0;
}
