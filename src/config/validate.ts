// Schema stage: run the TypeBox schema over the parsed YAML, word every error for an operator,
// and prune the offending values so that the semantic stage can still check everything else
// (a `pgrouter check` run reports all problems at once, not one per edit).
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { RawConfigSchema } from './schema.js';
import { formatPath, pointerToPath, type KeyPath, type PathIssue } from './path.js';

const compiled = TypeCompiler.Compile(RawConfigSchema);

export interface SchemaResult {
  readonly issues: PathIssue[];
  /**
   * A copy of the input where unknown keys are deleted and every value that failed the schema
   * is replaced by `undefined` (its key is kept, so "was it set at all?" can still be asked).
   * Every pruned value has an issue, so a config built from it is never used when one exists.
   */
  readonly pruned: unknown;
}

export function validateRaw(value: unknown): SchemaResult {
  if (compiled.Check(value)) return { issues: [], pruned: value };
  const issues: PathIssue[] = [];
  const seen = new Set<string>();
  const pruned: unknown = structuredClone(value);
  const unknownKeys: KeyPath[] = [];
  const badValues: KeyPath[] = [];
  for (const error of compiled.Errors(value)) {
    const path = pointerToPath(error.path, value);
    const key = formatPath(path);
    // TypeBox reports a missing required key twice (required + wrong type of undefined): keep one.
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ path, message: describeError(error) });
    if (error.type === ValueErrorType.ObjectAdditionalProperties) unknownKeys.push(path);
    else if (error.type !== ValueErrorType.ObjectRequiredProperty) badValues.push(path);
  }
  if (badValues.some((p) => p.length === 0)) return { issues, pruned: undefined };
  for (const path of unknownKeys) prune(pruned, path, 'delete');
  for (const path of badValues) prune(pruned, path, 'blank');
  return { issues, pruned };
}

function prune(root: unknown, path: KeyPath, how: 'delete' | 'blank'): void {
  let node: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string | number, unknown>)[seg];
  }
  const last = path[path.length - 1];
  if (last === undefined || !isPlainContainer(node)) return;
  if (how === 'delete' && !Array.isArray(node)) delete node[last];
  else node[last] = undefined;
}

/** Only what YAML's core schema produces is edited; anything else was already reported. */
function isPlainContainer(node: unknown): node is Record<string | number, unknown> {
  if (Array.isArray(node)) return true;
  if (node === null || typeof node !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(node);
  return proto === Object.prototype || proto === null;
}

function describeError(error: ValueError): string {
  const schema = error.schema as Record<string, unknown>;
  const got = schema['x-secret'] === true ? describeType(error.value) : describeValue(error.value);
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
      const key = error.path.slice(error.path.lastIndexOf('/') + 1).replace(/~1/g, '/').replace(/~0/g, '~');
      const guess = didYouMean(key, known);
      return guess === null ? `unknown key (known keys: ${known.join(', ')})` : `unknown key (did you mean "${guess}"?)`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return 'required key is missing';
    case ValueErrorType.Object:
      return error.path === ''
        ? `expected a map of settings at the top level (at least cluster.scope and cluster.etcd), got ${got}`
        : `expected a map of keys, got ${got}`;
    case ValueErrorType.Array:
      return `expected a list, got ${got}`;
    case ValueErrorType.ArrayMinItems:
      return 'must not be empty';
    case ValueErrorType.StringMinLength:
      return 'must not be empty';
    case ValueErrorType.StringPattern:
      return `${got} is not valid (${String(schema['x-hint'] ?? `must match ${String(schema.pattern)}`)})`;
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
      return `expected an integer, got ${got}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(schema.minimum)}, got ${got}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(schema.maximum)}, got ${got}`;
    case ValueErrorType.String:
    case ValueErrorType.Union: {
      const words = schema['x-enum'];
      if (Array.isArray(words)) return `${got} is not one of ${words.join(', ')}`;
      const expect = typeof schema['x-expect'] === 'string' ? schema['x-expect'] : 'a string';
      return `expected ${expect}, got ${got}`;
    }
    default:
      return error.message;
  }
}

function describeType(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'number') return 'a number (quote it)';
  return `a ${typeof value}`;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return describeType(value);
}

/** Closest known key within an edit distance that still looks like a typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= limit ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
