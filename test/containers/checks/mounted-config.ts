// Loads the pgrouter config a rendered pod would run with, through pgrouter's own loader:
// the YAML comes from the ConfigMap mounted at the config's directory, and every file the
// config names (TLS material, the admin token) must sit under one of the container's mounts.
// Objects created outside the overlay (the Secrets, the Patroni CA) get stand-in contents.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfigText, type Config, type ConfigIssue } from '../../../src/config/load.js';
import type { K8sObject } from './k8s-strict.js';
import type { Container, PodSpec } from './pod-facts.js';

/** The image's CMD (deploy/container/Dockerfile) when the pod gives no --config. */
export const IMAGE_CONFIG_PATH = '/etc/pgrouter/pgrouter.yaml';

export interface MountedConfig {
  readonly path: string;
  readonly text: string;
  /** Null when the config has issues. */
  readonly config: Config | null;
  readonly issues: readonly ConfigIssue[];
}

let pems: { cert: string; key: string } | null = null;
/** A real self-signed certificate and key, made once, for every stand-in PEM file. */
function standInPems(): { cert: string; key: string } {
  if (pems) return pems;
  const dir = mkdtempSync(join(tmpdir(), 'pgrouter-test-pem-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=pgrouter-test', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore', timeout: 30_000 });
    pems = { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
    return pems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function standIn(file: string): string {
  if (/key/.test(basename(file))) return standInPems().key;
  if (/\.(crt|pem)$/.test(file)) return standInPems().cert;
  return 'stand-in-secret-0123456789abcdef';
}

export function configPath(c: Container): string {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  const i = argv.indexOf('--config');
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : IMAGE_CONFIG_PATH;
}

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
}

export function loadMountedConfig(pod: PodSpec, c: Container, objects: readonly K8sObject[]): MountedConfig {
  // A rendered ConfigMap's or Secret's contents by key (Secret data is base64), or null.
  const contents = (kind: string, name: string): Record<string, string> | null => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) return null;
    const decoded = Object.entries((o.data ?? {}) as Record<string, string>).map(([k, v]) => [k, kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v]);
    return { ...Object.fromEntries(decoded), ...((o.stringData ?? {}) as Record<string, string>) };
  };
  const readFile = (path: string): string => {
    const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
    const volume = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
    if (!mount || !volume) throw enoent(path);
    const source = volume.configMap ? contents('ConfigMap', volume.configMap.name) : volume.secret ? contents('Secret', volume.secret.secretName) : null;
    if (source === null) return standIn(path); // created outside the overlay
    const value = source[path.slice(mount.mountPath.length + 1)];
    if (value === undefined) throw enoent(path);
    return value;
  };

  const path = configPath(c);
  const text = readFile(path);
  const load = (t: string) => loadConfigText(t, { file: path, env: {}, readFile });
  const loaded = load(text);
  return { path, text, config: loaded.ok ? loaded.config : null, issues: loaded.ok ? [] : loaded.issues };
}
