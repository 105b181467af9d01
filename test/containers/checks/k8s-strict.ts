// Strict offline validation of rendered Kubernetes objects, as an API server with
// `kubectl apply --validate=strict` would do it: kubernetes-models checks types, enums and
// required fields; the type maps of @kubernetes/client-node catch unknown (misspelled) fields,
// which kubernetes-models lets through.
import * as k8s from '@kubernetes/client-node';
import { Value } from '@sinclair/typebox/value';
import { CUSTOM_SCHEMAS } from './k8s-custom-schemas.js';

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [key: string]: unknown;
}

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
type Model = { getAttributeTypeMap(): readonly Attribute[] };

const models = k8s as unknown as Record<string, Model | undefined>;
const MAP_TYPE = /^\{ \[key: string\]: (.+); \}$/;

/** "apps/v1" + "Deployment" → "V1Deployment", the client's model name. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return `${version[0]?.toUpperCase() ?? ''}${version.slice(1)}${kind}`;
}

/** Every field of `value` that the model `type` does not declare, with its path. */
export function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  if (type.startsWith('Array<')) {
    if (!Array.isArray(value)) return [`${path}: a list expected`];
    return value.flatMap((v, i) => unknownFields(v, type.slice('Array<'.length, -1), `${path}[${i}]`));
  }
  const map = MAP_TYPE.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: a map expected`];
    return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1] ?? 'any', `${path}.${k}`));
  }
  const model = models[type];
  // Primitives, IntOrString, Date and `any` have no attribute map.
  if (model === undefined || typeof model.getAttributeTypeMap !== 'function') return [];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: an object expected (${type})`];
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const t = attributes.get(key);
    return t === undefined ? [`${path}.${key}: unknown field of ${type}`] : unknownFields(v, t, `${path}.${key}`);
  });
}

// The API groups the overlays use; an object of another group fails as unknown.
const MODEL_MODULES: Readonly<Record<string, () => Promise<Record<string, unknown>>>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'batch/v1': () => import('kubernetes-models/batch/v1'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
};

/** kubernetes-models' schema validation; returns its messages. */
async function modelErrors(obj: K8sObject): Promise<string[]> {
  const load = MODEL_MODULES[obj.apiVersion];
  const Model = load ? ((await load())[obj.kind] as (new (data: unknown) => { validate(): void }) | undefined) : undefined;
  if (Model === undefined) return [`: ${obj.apiVersion} ${obj.kind} is not one of the kinds validated here`];
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    const details = (err as { errors?: Array<{ instancePath?: string; message?: string }> }).errors;
    if (!details) return [`: ${String(err)}`];
    return details.map((d) => `${d.instancePath ?? ''}: ${d.message ?? 'invalid'}`);
  }
}

/** Everything wrong with one object; empty when it would pass a strict API server. */
export async function validateObject(obj: K8sObject): Promise<string[]> {
  const where = `${obj.kind}/${obj.metadata?.name ?? '?'}`;
  const custom = CUSTOM_SCHEMAS.get(`${obj.apiVersion} ${obj.kind}`);
  if (custom) return [...Value.Errors(custom, obj)].map((e) => `${where}${e.path}: ${e.message}`);
  const type = modelName(obj.apiVersion, obj.kind);
  if (models[type] === undefined) return [`${where}: no model ${type} for ${obj.apiVersion} ${obj.kind}`];
  const problems = [...(await modelErrors(obj)), ...unknownFields(obj, type, '')];
  return problems.map((p) => `${where}${p.startsWith('.') || p.startsWith('/') || p.startsWith(':') ? '' : ' '}${p}`);
}
