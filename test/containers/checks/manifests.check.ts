// The Kubernetes overlays of deploy/kubernetes/, rendered by kustomize and checked as strictly
// as an API server would (unknown fields fail), then for what the API server cannot know:
// probe ports exist, the grace period outlasts pgrouter's drain, the sidecar is a native one,
// the config each pod mounts passes pgrouter's own validation.
import { describe, expect, it } from 'vitest';
import { render } from './render.js';
import { validateObject, type K8sObject } from './k8s-strict.js';
import { allContainers, matches, pgrouterContainers, preStopSeconds, probePort, securitySetting, workloads, type Workload } from './pod-facts.js';
import { loadMountedConfig } from './mounted-config.js';
import { imageUser } from './dockerfile.js';

const OVERLAYS = ['sidecar', 'sidecar-job-pre-1.29', 'standalone', 'monitoring'] as const;
const rendered = new Map<string, K8sObject[]>(OVERLAYS.map((o) => [o, render(o)]));
const objects = (overlay: string): K8sObject[] => rendered.get(overlay) ?? [];

/** Objects the pods reference that the user creates (deploy/kubernetes/README.md). */
const EXTERNAL = new Set(['Secret/pgrouter-etcd-client', 'Secret/pgrouter-admin', 'Secret/app-db', 'ConfigMap/patroni-ca']);

const pgrouterWorkloads = (overlay: string): Workload[] => workloads(objects(overlay)).filter((w) => pgrouterContainers(w.pod).length > 0);
const everyPgrouter = OVERLAYS.flatMap((o) => pgrouterWorkloads(o).flatMap((w) => pgrouterContainers(w.pod).map((c) => ({ overlay: o, w, c }))));
const label = (x: { overlay: string; w: Workload }): string => `${x.overlay}: ${x.w.object.kind}/${x.w.object.metadata.name}`;

describe('deploy/kubernetes', () => {
  it.each(OVERLAYS)('renders %s with kustomize into objects a strict API server accepts', async (overlay) => {
    const list = objects(overlay);
    expect(list.length).toBeGreaterThan(0);
    const problems = (await Promise.all(list.map(validateObject))).flat();
    expect(problems.join('\n')).toBe('');
  });

  it('catches a misspelled field (the strict validation is not a no-op)', async () => {
    const [deployment] = workloads(objects('standalone'));
    const broken = structuredClone(deployment!.object) as K8sObject & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    broken.spec.template.spec.containers[0]!.livenessProbes = {};
    expect((await validateObject(broken)).join('\n')).toMatch(/livenessProbes: unknown field/);
  });

  it('runs pgrouter in every workload as the numeric non-root user of the image, read-only, with no capabilities', () => {
    const { uid, gid } = imageUser();
    expect(everyPgrouter.length).toBeGreaterThanOrEqual(3);
    for (const x of everyPgrouter) {
      const s = (k: string): unknown => securitySetting(x.w.pod, x.c, k);
      expect({ where: label(x), runAsNonRoot: s('runAsNonRoot'), runAsUser: s('runAsUser'), runAsGroup: s('runAsGroup'), readOnlyRootFilesystem: s('readOnlyRootFilesystem'), allowPrivilegeEscalation: s('allowPrivilegeEscalation'), drop: (s('capabilities') as { drop?: string[] } | undefined)?.drop, seccomp: (s('seccompProfile') as { type?: string } | undefined)?.type })
        .toEqual({ where: label(x), runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, drop: ['ALL'], seccomp: 'RuntimeDefault' });
    }
  });

  it('gives every container of every workload runAsNonRoot, a read-only root and RuntimeDefault seccomp', () => {
    for (const overlay of OVERLAYS) {
      for (const w of workloads(objects(overlay))) {
        for (const c of allContainers(w.pod)) {
          const where = `${overlay}: ${w.object.metadata.name}/${c.name}`;
          expect([where, securitySetting(w.pod, c, 'runAsNonRoot'), securitySetting(w.pod, c, 'readOnlyRootFilesystem'), (securitySetting(w.pod, c, 'seccompProfile') as { type?: string } | undefined)?.type])
            .toEqual([where, true, true, 'RuntimeDefault']);
        }
      }
    }
  });

  it('probes pgrouter with a startupProbe on /ready and a livenessProbe on /health, on a port the container declares, and no readinessProbe', () => {
    for (const x of everyPgrouter) {
      const { startupProbe, livenessProbe, readinessProbe } = x.c;
      expect([label(x), startupProbe?.httpGet?.path, livenessProbe?.httpGet?.path, readinessProbe]).toEqual([label(x), '/ready', '/health', undefined]);
      for (const probe of [startupProbe, livenessProbe]) expect([label(x), probePort(x.c, probe!.httpGet!.port)]).not.toEqual([label(x), null]);
    }
  });

  it("probes the port of pgrouter's http.bind, in the config each pod mounts", () => {
    for (const x of everyPgrouter) {
      const mounted = loadMountedConfig(x.w.pod, x.c, objects(x.overlay));
      expect([label(x), probePort(x.c, x.c.livenessProbe!.httpGet!.port)]).toEqual([label(x), mounted.config?.http.bind.port]);
    }
  });

  it("passes pgrouter's config validation for every mounted config, every file it names under a mount", () => {
    for (const x of everyPgrouter) {
      const mounted = loadMountedConfig(x.w.pod, x.c, objects(x.overlay));
      expect({ where: label(x), issues: mounted.issues }).toEqual({ where: label(x), issues: [] });
      expect(mounted.config).not.toBeNull();
    }
  });

  it('gives every pod a terminationGracePeriodSeconds above its preStop pause plus timeouts.shutdown_grace', () => {
    for (const x of everyPgrouter) {
      const config = loadMountedConfig(x.w.pod, x.c, objects(x.overlay)).config!;
      const needed = preStopSeconds(x.c) + config.timeouts.shutdown_grace / 1000;
      expect([label(x), x.w.pod.terminationGracePeriodSeconds ?? 30]).toEqual([label(x), expect.any(Number)]);
      expect(x.w.pod.terminationGracePeriodSeconds ?? 30, label(x)).toBeGreaterThan(needed);
    }
  });

  it('runs the sidecar as a native sidecar: an initContainers entry with restartPolicy Always', () => {
    const [app] = pgrouterWorkloads('sidecar');
    const sidecar = (app!.pod.initContainers ?? []).find((c) => pgrouterContainers(app!.pod).includes(c));
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(app!.pod.containers.some((c) => pgrouterContainers(app!.pod).includes(c))).toBe(false);
  });

  it('has the example app connect to 127.0.0.1 on a port the sidecar listens on there', () => {
    for (const overlay of ['sidecar', 'sidecar-job-pre-1.29']) {
      const [w] = pgrouterWorkloads(overlay);
      const pgrouter = pgrouterContainers(w!.pod)[0]!;
      const config = loadMountedConfig(w!.pod, pgrouter, objects(overlay)).config!;
      const loopback = config.listeners.filter((l) => l.bind.host === '127.0.0.1').map((l) => l.bind.port);
      const app = w!.pod.containers.find((c) => c !== pgrouter)!;
      const env = Object.fromEntries((app.env ?? []).map((e) => [e.name, e.value]));
      expect([overlay, env.PGHOST, loopback.includes(Number(env.PGPORT))]).toEqual([overlay, '127.0.0.1', true]);
    }
  });

  it('stops the pre-1.29 sidecar with POST /quitquitquit on the admin socket the config enables', () => {
    const [job] = pgrouterWorkloads('sidecar-job-pre-1.29');
    const pgrouter = pgrouterContainers(job!.pod)[0]!;
    expect(job!.object.kind).toBe('Job');
    expect(pgrouter.restartPolicy).toBeUndefined();
    const mounted = loadMountedConfig(job!.pod, pgrouter, objects('sidecar-job-pre-1.29'));
    expect(mounted.text).toMatch(/^\s+quitquitquit: true$/m);
    const script = job!.pod.containers.filter((c) => c !== pgrouter).flatMap((c) => [...(c.command ?? []), ...(c.args ?? [])]).join('\n');
    expect(script).toContain(`POST ${mounted.config!.admin.bind.port} /quitquitquit`);
    expect(mounted.config!.admin.bind.host).toBe('127.0.0.1');
  });

  it('mounts only volumes the pod defines, and references only rendered objects or the documented external ones', () => {
    for (const overlay of OVERLAYS) {
      const names = new Set(objects(overlay).map((o) => `${o.kind}/${o.metadata.name}`));
      for (const w of workloads(objects(overlay))) {
        const volumes = new Set((w.pod.volumes ?? []).map((v) => v.name));
        for (const c of allContainers(w.pod)) for (const m of c.volumeMounts ?? []) expect([overlay, m.name, volumes.has(m.name)]).toEqual([overlay, m.name, true]);
        for (const v of w.pod.volumes ?? []) {
          const ref = v.configMap ? `ConfigMap/${v.configMap.name}` : v.secret ? `Secret/${v.secret.secretName}` : null;
          if (ref) expect([overlay, ref, names.has(ref) || EXTERNAL.has(ref)]).toEqual([overlay, ref, true]);
        }
      }
    }
  });

  it('points the Service at named ports of the pods it selects, and the PodDisruptionBudget at the same pods', () => {
    const list = objects('standalone');
    const [w] = pgrouterWorkloads('standalone');
    const service = list.find((o) => o.kind === 'Service') as K8sObject & { spec: { selector: Record<string, string>; ports: Array<{ name: string; targetPort: string }> } };
    const pdb = list.find((o) => o.kind === 'PodDisruptionBudget') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable: number } };
    expect(matches(service.spec.selector, w!.labels)).toBe(true);
    const ports = new Set(allContainers(w!.pod).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const p of service.spec.ports) expect([p.name, ports.has(p.targetPort)]).toEqual([p.name, true]);
    expect(matches(pdb.spec.selector.matchLabels, w!.labels)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBeLessThan((w!.object.spec as { replicas: number }).replicas);
  });

  it('has the ServiceMonitor select the Service by a port it names, and the PodMonitor select every sidecar pod by a port it declares', () => {
    const monitoring = objects('monitoring');
    const sm = monitoring.find((o) => o.kind === 'ServiceMonitor') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> } };
    const service = objects('standalone').find((o) => o.kind === 'Service') as K8sObject & { spec: { ports: Array<{ name: string }> } };
    expect(matches(sm.spec.selector.matchLabels, service.metadata.labels ?? {})).toBe(true);
    expect(service.spec.ports.map((p) => p.name)).toContain(sm.spec.endpoints[0]!.port);
    const pm = monitoring.find((o) => o.kind === 'PodMonitor') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string }> } };
    for (const overlay of ['sidecar', 'sidecar-job-pre-1.29']) {
      const [w] = pgrouterWorkloads(overlay);
      expect([overlay, matches(pm.spec.selector.matchLabels, w!.labels)]).toEqual([overlay, true]);
      expect([overlay, probePort(pgrouterContainers(w!.pod)[0]!, pm.spec.podMetricsEndpoints[0]!.port)]).not.toEqual([overlay, null]);
    }
  });

  it('sets the image through kustomize, so `kustomize edit set image pgrouter=...` applies everywhere', () => {
    for (const x of everyPgrouter) expect([label(x), x.c.image]).toEqual([label(x), 'registry.example.com/pgrouter:0.1.0']);
  });
});
