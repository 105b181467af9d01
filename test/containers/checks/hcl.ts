// Reads deploy/azure/terraform/ without terraform: @cdktf/hcl2json parses the files (HCL's
// own parser, compiled to WebAssembly), and a small resolver fills in the plain references
// (local.x, var.x defaults, each.key, each.value.x) so the checks see the values Azure would.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

type Json = Record<string, unknown>;
export interface Instance {
  readonly key: string | null;
  readonly attrs: Json;
}
export interface Module {
  readonly files: ReadonlyMap<string, string>;
  readonly resources: Readonly<Record<string, Readonly<Record<string, Json[]>>>>;
  readonly locals: Json;
  readonly vars: Json;
}

export async function loadModule(dir: string): Promise<Module> {
  const files = new Map(readdirSync(dir).filter((f) => f.endsWith('.tf')).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  const parsed = await Promise.all([...files].map(([name, text]) => parse(name, text)));
  const resources: Record<string, Record<string, Json[]>> = {};
  let locals: Json = {};
  const vars: Json = {};
  for (const p of parsed) {
    for (const [type, byName] of Object.entries((p.resource ?? {}) as Record<string, Record<string, Json[]>>)) Object.assign((resources[type] ??= {}), byName);
    for (const l of (p.locals ?? []) as Json[]) locals = { ...locals, ...l };
    for (const [name, [v]] of Object.entries((p.variable ?? {}) as Record<string, Json[]>)) vars[name] = v?.default;
  }
  return { files, resources, locals, vars };
}

const lookup = (root: unknown, path: string[]): unknown => path.reduce<unknown>((v, k) => (v as Json | undefined)?.[k], root);

/** A value with its simple references replaced; anything more complex is left as written. */
function resolve(value: unknown, scope: Json): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, scope));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, scope)]));
  if (typeof value !== 'string') return value;
  const ref = (expr: string): unknown => (/^(local|var|each)(\.[a-z_]+)+$/.test(expr) ? lookup(scope, expr.split('.')) : undefined);
  const whole = /^\$\{([^}]+)\}$/.exec(value);
  if (whole) return ref(whole[1]!) ?? value;
  return value.replace(/\$\{([^}]+)\}/g, (m, expr: string) => {
    const v = ref(expr);
    return v === undefined ? m : String(v);
  });
}

/** The instances of one resource block, expanded over a for_each of a local map. */
export function instances(m: Module, type: string, name: string): Instance[] {
  const [block] = m.resources[type]?.[name] ?? [];
  if (!block) return [];
  const base = { local: m.locals, var: m.vars };
  const forEach = block.for_each === undefined ? undefined : resolve(block.for_each, base);
  if (forEach === undefined) return [{ key: null, attrs: resolve(block, base) as Json }];
  if (typeof forEach !== 'object' || forEach === null) return [{ key: '?', attrs: resolve(block, base) as Json }];
  return Object.entries(forEach).map(([key, value]) => ({ key, attrs: resolve(block, { ...base, each: { key, value } }) as Json }));
}
