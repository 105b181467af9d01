// Renders a kustomize overlay with `kubectl kustomize` (offline) into plain objects.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { K8sObject } from './k8s-strict.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const KUBERNETES_DIR = join(REPO, 'deploy', 'kubernetes');

/** KUBECTL names the binary when it is not `kubectl` on PATH (run.sh sets it). */
export function render(overlay: string): K8sObject[] {
  const out = execFileSync(process.env.KUBECTL ?? 'kubectl', ['kustomize', join(KUBERNETES_DIR, overlay)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}
