// Command line: `pgrouter [run] --config FILE`, `pgrouter check --config FILE`, `status`,
// `pause|resume <listener>` (issue 13), --version, --help.
// main() returns the exit code instead of calling process.exit so it can be tested in-process.
import { parseArgs } from 'node:util';
import { configWarnings, loadConfigFile, formatIssues, formatWarnings, summarizeConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { Router } from '../router/router.js';
import { DEFAULT_STATUS_URL, runStatus, statusUrl } from './status.js';
import { describeError } from '../errors.js';
import { packageVersion } from '../metrics/build-info.js';
import { HttpServer } from '../http/server.js';
import { adminToken, adminUrl, runPauseCommand } from './listener-pause.js';
import type { Config } from '../config/types.js';

const HELP = `Usage: pgrouter [run] --config FILE [--log-format json|pretty] [--log-level LEVEL]
       pgrouter check --config FILE
       pgrouter status [--url URL | --config FILE]
       pgrouter pause LISTENER [--timeout DURATION] [--url ADMIN_URL | --config FILE]
       pgrouter resume LISTENER [--url ADMIN_URL | --config FILE]
       pgrouter --version | --help

Routes PostgreSQL clients to a Patroni cluster: a read-write listener follows the
confirmed leader (etcd leader key + Patroni REST /primary), read-only listeners spread
over healthy replicas.

Commands:
  run      (default) start the router with the given config
  check    validate the config, print every problem with its key and line, exit 1 if any
  status   print a running router's view of the cluster (members, roles, lag, sessions,
           eligibility per listener) from its /stats.json, like patronictl list
  pause    hold new clients of a listener (established sessions go on) until resume,
           each up to --timeout (default: the router's timeouts.connect_wait); through
           the admin API, with the token from $PGROUTER_ADMIN_TOKEN or admin.token
  resume   release a paused listener's held clients

Options:
  -c, --config FILE      YAML config (see config/pgrouter.yaml and docs/configuration.md)
      --url URL          status: the router's HTTP address (default ${DEFAULT_STATUS_URL},
                         or derived from http.bind with --config); pause, resume: the
                         admin API's address (default from admin.bind with --config)
      --timeout DUR      pause: how long a new client may wait, e.g. 30s
      --log-format FMT   json (default) or pretty (default on a TTY)
      --log-level LEVEL  trace|debug|info|warn|error (overrides log.level)
  -v, --version          print the version
  -h, --help             print this help
`;

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        url: { type: 'string' },
        timeout: { type: 'string' },
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    err.write(`pgrouter: ${describeError(e)}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out.write(HELP);
    return 0;
  }
  if (values.version) {
    out.write(`pgrouter ${packageVersion()} (node ${process.version})\n`);
    return 0;
  }
  const command = positionals[0] ?? 'run';
  if (command === 'pause' || command === 'resume') return pauseOrResume(command, positionals, values, out, err);
  if (positionals.length > 1 || (command !== 'run' && command !== 'check' && command !== 'status')) {
    err.write(`pgrouter: unknown command "${positionals.join(' ')}"\n\n${HELP}`);
    return 2;
  }
  if (values.url !== undefined && command !== 'status') {
    err.write(`pgrouter: --url only applies to status, pause and resume\n\n${HELP}`);
    return 2;
  }
  if (values.timeout !== undefined) {
    err.write(`pgrouter: --timeout only applies to pause\n\n${HELP}`);
    return 2;
  }
  if (command === 'status') return status(values.url, values.config, out, err);
  if (!values.config) {
    err.write(`pgrouter: --config FILE is required\n\n${HELP}`);
    return 2;
  }
  const file = values.config;
  const result = loadConfigFile(file, process.env);
  if (!result.ok) {
    err.write(formatIssues(file, result.issues) + '\n');
    return 1;
  }
  if (command === 'check') {
    // Warnings (a certificate about to expire) do not fail the check: the file is valid.
    const warnings = configWarnings(result.config, Date.now());
    if (warnings.length > 0) out.write(formatWarnings(file, warnings) + '\n');
    out.write(summarizeConfig(result.config) + '\n');
    return 0;
  }
  const format = values['log-format'] ?? (process.stdout.isTTY ? 'pretty' : result.config.log.format);
  if (format !== 'json' && format !== 'pretty') {
    err.write(`pgrouter: --log-format must be json or pretty, not "${format}"\n`);
    return 2;
  }
  const level = values['log-level'] ?? result.config.log.level;
  const logger = createLogger({ level, format });
  const router = new Router(result.config, logger, { workerLog: { level, format } });
  const reload = () => router.reloadFile(file, process.env);
  // POST /quitquitquit stops like SIGTERM; runRouter installs the stop it calls.
  const stop = { now: (_why: string): void => undefined };
  const quit = (): void => stop.now('quitquitquit');
  const http = new HttpServer({ config: result.config, current: () => router.config, control: router, logger, reload, quit });
  return runRouter(router, http, logger, () => void reload(), stop);
}

async function pauseOrResume(
  action: 'pause' | 'resume',
  positionals: string[],
  values: { url?: string | undefined; config?: string | undefined; timeout?: string | undefined },
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const listener = positionals[1];
  if (listener === undefined || positionals.length > 2) {
    err.write(`pgrouter ${action}: give exactly one listener name\n\n${HELP}`);
    return 2;
  }
  if (values.timeout !== undefined && action === 'resume') {
    err.write(`pgrouter: --timeout only applies to pause\n\n${HELP}`);
    return 2;
  }
  let config: Config | null = null;
  if (values.config !== undefined) {
    const result = loadConfigFile(values.config, process.env);
    if (!result.ok) {
      err.write(formatIssues(values.config, result.issues) + '\n');
      return 1;
    }
    config = result.config;
  }
  const baseUrl = values.url ?? (config ? adminUrl(config) : undefined);
  if (baseUrl === undefined) {
    err.write(`pgrouter ${action}: give --url of the admin API or --config FILE\n\n${HELP}`);
    return 2;
  }
  const token = adminToken(process.env, config);
  return runPauseCommand({ action, listener, baseUrl, token, ...(values.timeout === undefined ? {} : { timeout: values.timeout }) }, out, err);
}

async function status(url: string | undefined, file: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (url !== undefined && file !== undefined) {
    err.write(`pgrouter: status takes --url or --config, not both\n`);
    return 2;
  }
  if (url !== undefined) return runStatus(url, out, err);
  if (file === undefined) return runStatus(DEFAULT_STATUS_URL, out, err);
  const result = loadConfigFile(file, process.env);
  if (!result.ok) {
    err.write(formatIssues(file, result.issues) + '\n');
    return 1;
  }
  return runStatus(statusUrl(result.config), out, err);
}

/**
 * Runs until SIGTERM/SIGINT, then drains (timeouts.shutdown_grace) and resolves with the exit code.
 * The signal handlers go in before anything starts: in cluster mode the workers route before the
 * HTTP server is up, and a SIGHUP meeting Node's default action would terminate the router. A
 * SIGHUP during startup is applied once started; a SIGTERM during startup stops right after.
 */
async function runRouter(
  router: Router,
  http: HttpServer,
  logger: ReturnType<typeof createLogger>,
  sighup: () => void,
  stopHook: { now: (why: string) => void },
): Promise<number> {
  let started = false;
  let stopping = false;
  let reloadPending = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  // HTTP closes first: a load balancer's probe then fails at once (connection refused) and it
  // stops sending new clients while the listeners drain.
  const closeAll = async (graceMs?: number): Promise<void> => {
    await http.close();
    await router.close(graceMs === undefined ? {} : { graceMs });
  };
  /** Closes everything (graceMs 0: the second signal's hard stop) and settles the exit code. */
  const drain = (graceMs?: number): void => {
    closeAll(graceMs).then(
      () => finish(0),
      (e: unknown) => {
        logger.error({ err: describeError(e) }, 'error while stopping');
        finish(1);
      },
    );
  };
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: closing all sessions now');
      drain(0);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping: no new connections, draining sessions');
    if (started) drain();
  };
  stopHook.now = stop;
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Reload: re-read and validate the file; an invalid one is logged and changes nothing.
  process.on('SIGHUP', () => {
    if (stopping) return;
    if (started) sighup();
    else reloadPending = true;
  });
  try {
    await router.start();
    await http.start();
  } catch (e) {
    logger.fatal({ err: describeError(e) }, 'pgrouter failed to start');
    await http.close();
    await router.close({ graceMs: 0 });
    return 1;
  }
  started = true;
  if (stopping) drain();
  else if (reloadPending) sighup();
  return finished;
}
