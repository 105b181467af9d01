// Public API: YAML text or file → { ok, config } or { ok: false, issues }. Never throws on bad
// input: `pgrouter check` and startup both want the full list of problems, each with its line.
//
//   parse (yaml, with source ranges) → schema (validate.ts) → semantics (normalize.ts) → freeze
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { Config, ConfigIssue } from './types.js';
import type { RawConfig } from './schema.js';
import { validateRaw } from './validate.js';
import { normalizeConfig } from './normalize.js';
import type { Loose } from './normalize-values.js';
import { lineOf } from './locate.js';
import { formatPath } from './path.js';
import { deepFreeze } from './freeze.js';
import { describeError, errorLabel } from '../errors.js';

// The CLI imports everything config-related from here.
export { configWarnings, formatIssues, formatWarnings, summarizeConfig } from './check.js';
export { parseDuration, parseSize } from './units.js';
export type { Config, ConfigIssue } from './types.js';

export type LoadResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly issues: ConfigIssue[] };

export interface LoadOptions {
  /** The file name, for relative secret paths (read from its directory). */
  readonly file?: string;
  /** Environment for `{ env: VAR }` secrets and overrides; defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Reads secret/PEM files; defaults to fs.readFileSync(path, 'utf8'). */
  readonly readFile?: (path: string) => string;
}

const readUtf8 = (path: string): string => readFileSync(path, 'utf8');

export function loadConfigText(text: string, opts: LoadOptions = {}): LoadResult {
  const lines = new LineCounter();
  // prettyErrors off: its code excerpt could print a line holding a password.
  // resolveKnownTags off: !!binary, !!set, !!timestamp... would yield Uint8Array, Set or Date
  // values that no key accepts; unresolved, they are warnings, reported below like errors.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, resolveKnownTags: false });
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    // A structure the parser had to guess at would only produce misleading follow-up issues.
    return fail(syntax.map((e) => ({ path: '', line: lines.linePos(e.pos[0]).line, message: `YAML: ${e.message}` })));
  }
  let value: unknown;
  try {
    // Caps alias expansion ("billion laughs"); the file is trusted, but a typo should not hang us.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return fail([{ path: '', line: null, message: `YAML: ${describeError(err)}` }]);
  }

  const schema = validateRaw(value);
  const semantic = normalizeConfig(schema.pruned as Loose<RawConfig> | undefined, {
    env: opts.env ?? process.env,
    readFile: opts.readFile ?? readUtf8,
    baseDir: opts.file === undefined ? null : dirname(opts.file),
  });
  const issues = [...schema.issues, ...semantic.issues].map(
    (i): ConfigIssue => ({ path: formatPath(i.path), line: lineOf(doc, lines, i.path), message: i.message }),
  );
  if (issues.length > 0) return fail(issues);
  return { ok: true, config: deepFreeze(semantic.config) };
}

export function loadConfigFile(path: string, env?: NodeJS.ProcessEnv): LoadResult {
  let text: string;
  try {
    text = readUtf8(path);
  } catch (err) {
    return fail([{ path: '', line: null, message: `cannot read config file ${path} (${errorLabel(err)})` }]);
  }
  return loadConfigText(text, { file: path, ...(env === undefined ? {} : { env }) });
}

/** In file order; issues without a line (missing top-level keys) come last. */
function fail(issues: ConfigIssue[]): LoadResult {
  const rank = (i: ConfigIssue): number => i.line ?? Number.MAX_SAFE_INTEGER;
  const sorted = [...issues].sort((a, b) => rank(a) - rank(b));
  return { ok: false, issues: sorted };
}
