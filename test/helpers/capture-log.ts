// A pino logger (the router's own createLogger) whose JSON lines the test can read back.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface CapturedLog {
  readonly logger: Logger;
  /** Every line logged so far, parsed. */
  readonly lines: Record<string, unknown>[];
  /** Everything logged so far, raw (e.g. to assert a secret never appears). */
  text(): string;
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString();
      raw += text;
      for (const line of text.split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), lines, text: () => raw };
}
