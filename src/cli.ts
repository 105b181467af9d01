// Command line: `pgrouter [run] --config FILE`, `pgrouter check --config FILE`, --version, --help.
// main() returns the exit code instead of calling process.exit so it can be tested in-process.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, formatIssues, summarizeConfig } from './config/load.js';
import { createLogger } from './log.js';
import { Router } from './app.js';
import { describeError } from './errors.js';

const HELP = `Usage: pgrouter [run] --config FILE [--log-format json|pretty] [--log-level LEVEL]
       pgrouter check --config FILE
       pgrouter --version | --help

Routes PostgreSQL clients to a Patroni cluster: a read-write listener follows the
confirmed leader (etcd leader key + Patroni REST /primary), read-only listeners spread
over healthy replicas.

Commands:
  run      (default) start the router with the given config
  check    validate the config, print every problem with its key and line, exit 1 if any

Options:
  -c, --config FILE      YAML config (see config/pgrouter.yaml and docs/configuration.md)
      --log-format FMT   json (default) or pretty (default on a TTY)
      --log-level LEVEL  trace|debug|info|warn|error (overrides log.level)
  -v, --version          print the version
  -h, --help             print this help
`;

export function version(): string {
  const pkgUrl = new URL('../../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
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
    out.write(`pgrouter ${version()} (node ${process.version})\n`);
    return 0;
  }
  const command = positionals[0] ?? 'run';
  if (positionals.length > 1 || (command !== 'run' && command !== 'check')) {
    err.write(`pgrouter: unknown command "${positionals.join(' ')}"\n\n${HELP}`);
    return 2;
  }
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
    out.write(summarizeConfig(result.config) + '\n');
    return 0;
  }
  const format = values['log-format'] ?? (process.stdout.isTTY ? 'pretty' : result.config.log.format);
  if (format !== 'json' && format !== 'pretty') {
    err.write(`pgrouter: --log-format must be json or pretty, not "${format}"\n`);
    return 2;
  }
  const logger = createLogger({ level: values['log-level'] ?? result.config.log.level, format });
  return runRouter(new Router(result.config, logger), logger);
}

/** Runs until SIGTERM/SIGINT, then drains (timeouts.shutdown_grace) and resolves with the exit code. */
async function runRouter(router: Router, logger: ReturnType<typeof createLogger>): Promise<number> {
  try {
    await router.start();
  } catch (e) {
    logger.fatal({ err: describeError(e) }, 'pgrouter failed to start');
    await router.close({ graceMs: 0 });
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: closing all sessions now');
        void router.close({ graceMs: 0 }).then(() => resolve(0));
        return;
      }
      stopping = true;
      logger.info({ signal }, 'stopping: no new connections, draining sessions');
      router.close().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error({ err: describeError(e) }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
