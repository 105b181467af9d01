// pino logger factory. JSON by default (one structured line per event); pretty on request.
// Secrets are redacted by path so that a config object logged by mistake leaks nothing.
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  format?: 'json' | 'pretty';
  /** Write to this fd/stream instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'key',
  '*.key',
  '*.*.key',
  'tls.key',
];

export function createLogger(opts: LogOptions = {}): Logger {
  const base = {
    level: opts.level ?? 'info',
    base: { name: 'pgrouter', pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.format === 'pretty') {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } },
    });
  }
  if (opts.destination) return pino(base, opts.destination);
  return pino(base);
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
