// Read-only views of rendered workloads: their pod template, containers, ports and volumes.
import type { K8sObject } from './k8s-strict.js';

export interface Port {
  readonly name?: string;
  readonly containerPort: number;
}
export interface Probe {
  readonly httpGet?: { readonly path?: string; readonly port: string | number };
}
export interface Mount {
  readonly name: string;
  readonly mountPath: string;
}
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly restartPolicy?: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly ports?: Port[];
  readonly env?: Array<{ readonly name: string; readonly value?: string }>;
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly lifecycle?: { readonly preStop?: { readonly exec?: { readonly command: string[] } } };
  readonly securityContext?: Record<string, unknown>;
  readonly volumeMounts?: Mount[];
}
export interface Volume {
  readonly name: string;
  readonly configMap?: { readonly name: string };
  readonly secret?: { readonly secretName: string };
  readonly emptyDir?: object;
}
export interface PodSpec {
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext?: Record<string, unknown>;
  readonly initContainers?: Container[];
  readonly containers: Container[];
  readonly volumes?: Volume[];
}
export interface Workload {
  readonly object: K8sObject;
  readonly labels: Readonly<Record<string, string>>;
  readonly pod: PodSpec;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .map((o) => {
      const template = (o.spec as { template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } }).template;
      return { object: o, labels: template.metadata?.labels ?? {}, pod: template.spec };
    });
}

export const allContainers = (pod: PodSpec): Container[] => [...(pod.initContainers ?? []), ...pod.containers];

/** The pgrouter containers: those running the image kustomize calls `pgrouter`. */
export const pgrouterContainers = (pod: PodSpec): Container[] => allContainers(pod).filter((c) => /(^|\/)pgrouter(:|@|$)/.test(c.image));

/** A probe's port (name or number) as a container port number, or null when it has none. */
export function probePort(c: Container, port: string | number): number | null {
  if (typeof port === 'number') return (c.ports ?? []).some((p) => p.containerPort === port) ? port : null;
  return (c.ports ?? []).find((p) => p.name === port)?.containerPort ?? null;
}

/** Seconds a preStop `sleep N` holds the container before SIGTERM, 0 without one. */
export function preStopSeconds(c: Container): number {
  const cmd = c.lifecycle?.preStop?.exec?.command ?? [];
  return cmd[0] === 'sleep' && cmd[1] !== undefined ? Number(cmd[1]) : 0;
}

/** A security setting from the container, else from the pod (Kubernetes' precedence). */
export function securitySetting(pod: PodSpec, c: Container, key: string): unknown {
  return c.securityContext?.[key] ?? pod.securityContext?.[key];
}

export const matches = (selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
