// cluster: where the Patroni cluster is found. etcd mode reads Patroni's keys under
// <namespace><scope>/; static mode probes a fixed member list over Patroni REST only.
import { isIPv6 } from 'node:net';
import type { ClusterConfig, EtcdConfig, HostPort, StaticMember } from './types.js';
import type { RawCluster, RawEtcd, RawMember } from './schema.js';
import type { KeyPath } from './path.js';
import { formatPath } from './path.js';
import { DEFAULTS, ETCD_PASSWORD_ENV } from './defaults.js';
import { durationAt, has, type Loose, type Report } from './normalize-values.js';
import { normalizeTlsFiles } from './normalize-tls.js';
import { resolveSecret, type SecretContext } from './secrets.js';
import { hostPort, isValidHost, parseHostPort } from './units.js';

const AT: KeyPath = ['cluster'];

export function normalizeCluster(
  raw: Loose<RawCluster> | undefined,
  ctx: SecretContext,
  report: Report,
): ClusterConfig {
  const c = raw ?? {};
  const scope = c.scope ?? '';
  if (scope.includes('/')) {
    report([...AT, 'scope'], `${JSON.stringify(scope)} must not contain "/" (it is one segment of Patroni's etcd keys)`);
  }
  const hasEtcd = has(c, 'etcd');
  const hasMembers = has(c, 'members');
  // A missing `cluster` was reported by the schema; do not add "neither etcd nor members".
  if (raw !== undefined && hasEtcd && hasMembers) {
    report([...AT, 'members'], 'cluster.etcd is also set: use etcd (etcd mode) or members (static mode), not both');
  } else if (raw !== undefined && !hasEtcd && !hasMembers) {
    report(AT, 'set either etcd (etcd mode) or members (static mode)');
  }
  if (hasMembers && !hasEtcd && has(c, 'on_etcd_loss')) {
    report([...AT, 'on_etcd_loss'], 'only applies in etcd mode (cluster.etcd)');
  }
  return {
    scope,
    namespace: normalizeNamespace(c.namespace ?? DEFAULTS.cluster.namespace),
    etcd: hasEtcd ? normalizeEtcd(c.etcd, ctx, report) : null,
    members: hasMembers && !hasEtcd ? normalizeMembers(c.members, report) : null,
    on_etcd_loss: c.on_etcd_loss ?? DEFAULTS.cluster.on_etcd_loss,
  };
}

/** Patroni joins namespace and scope by plain concatenation, so both slashes must be there. */
export function normalizeNamespace(ns: string): string {
  const lead = ns.startsWith('/') ? ns : `/${ns}`;
  return lead.endsWith('/') ? lead : `${lead}/`;
}

function normalizeEtcd(raw: Loose<RawEtcd> | undefined, ctx: SecretContext, report: Report): EtcdConfig {
  const at: KeyPath = [...AT, 'etcd'];
  const e = raw ?? {};
  const tls = has(e, 'tls') ? normalizeTlsFiles(e.tls, [...at, 'tls'], ctx, report) : null;

  const override = ctx.env[ETCD_PASSWORD_ENV];
  const fromEnv = override !== undefined && override !== '';
  const hasPassword = fromEnv || has(e, 'password');
  const hasUsername = has(e, 'username');
  if (hasPassword && !hasUsername) {
    const where = has(e, 'password') ? 'password' : ETCD_PASSWORD_ENV;
    report(has(e, 'password') ? [...at, 'password'] : at, `${where} is set but username is not (etcd auth needs both)`);
  } else if (hasUsername && !hasPassword) {
    report([...at, 'username'], `username is set but password is not (set password or ${ETCD_PASSWORD_ENV})`);
  }
  let password: string | null = null;
  if (fromEnv) {
    // The override wins even over a broken YAML form, so that form is not resolved at all.
    password = override;
  } else if (e.password !== undefined) {
    const resolved = resolveSecret(e.password, 'literal', ctx);
    if (resolved.ok) password = resolved.value;
    else report([...at, 'password'], resolved.message);
  }

  return {
    hosts: normalizeEtcdHosts(e.hosts, [...at, 'hosts'], report),
    protocol: tls ? 'https' : 'http',
    tls,
    username: e.username ?? null,
    password,
    dial_timeout: durationAt(e.dial_timeout, [...at, 'dial_timeout'], DEFAULTS.etcd.dial_timeout, 'positive', report),
    resync_interval: durationAt(
      e.resync_interval,
      [...at, 'resync_interval'],
      DEFAULTS.etcd.resync_interval,
      'positive',
      report,
    ),
  };
}

function normalizeEtcdHosts(
  raw: string | readonly (string | undefined)[] | undefined,
  at: KeyPath,
  report: Report,
): HostPort[] {
  if (raw === undefined) return [];
  // Patroni accepts "h1:2379,h2:2379"; each entry of the comma form is reported at `hosts`.
  const entries = typeof raw === 'string' ? raw.split(',').map((h) => ({ text: h.trim(), path: at })) : [];
  if (typeof raw !== 'string') raw.forEach((h, i) => h !== undefined && entries.push({ text: h, path: [...at, i] }));
  const hosts: HostPort[] = [];
  const seen = new Map<string, KeyPath>();
  for (const { text, path } of entries) {
    const parsed = parseHostPort(text);
    if (!parsed.ok) {
      report(path, parsed.message);
      continue;
    }
    const key = `${parsed.value.host}:${parsed.value.port}`;
    const first = seen.get(key);
    if (first) report(path, `${text} is listed twice (also at ${formatPath(first)})`);
    else seen.set(key, path);
    hosts.push(parsed.value);
  }
  return hosts;
}

function normalizeMembers(
  raw: readonly (Loose<RawMember> | undefined)[] | undefined,
  report: Report,
): StaticMember[] {
  const members: StaticMember[] = [];
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  (raw ?? []).forEach((m, i) => {
    if (m === undefined) return;
    const at: KeyPath = [...AT, 'members', i];
    const name = m.name ?? '';
    const host = m.host ?? '';
    const port = m.port ?? DEFAULTS.member.port;
    if (m.name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) report([...at, 'name'], `member name "${name}" is already used by cluster.members[${first}]`);
      else names.set(name, i);
    }
    if (m.host !== undefined) {
      if (!isValidHost(host)) {
        const hint = host.includes(':') && !isIPv6(host) ? ' (put the port in `port`)' : '';
        report([...at, 'host'], `${JSON.stringify(host)} is not a host name or IP address${hint}`);
      } else {
        const key = `${host}:${port}`;
        const first = addresses.get(key);
        if (first !== undefined) report([...at, 'host'], `${key} is already used by cluster.members[${first}]`);
        else addresses.set(key, i);
      }
    }
    // The default api is derived from host; a bad host was reported already, not its URL too.
    const api = m.api !== undefined ? normalizeApi(m.api, [...at, 'api'], report) : `http://${hostPort(host, DEFAULTS.member.api_port)}`;
    members.push({ name, host, port, api });
  });
  return members;
}

/** Patroni REST base URL; the prober appends /primary, /replica... so no trailing slash. */
function normalizeApi(api: string, at: KeyPath, report: Report): string {
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    // WHATWG URL throws a bare "Invalid URL"; the example says more.
    report(at, `${JSON.stringify(api)} is not a URL (e.g. http://10.0.0.1:8008)`);
    return api;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    report(at, `${JSON.stringify(api)} must be an http:// or https:// URL`);
  }
  if (url.search !== '' || url.hash !== '') {
    report(at, `${JSON.stringify(api)} must be a base URL without ?query or #fragment`);
  }
  return api.replace(/\/+$/, '');
}
