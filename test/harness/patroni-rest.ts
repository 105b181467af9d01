// Reads of Patroni's REST API (3.0.2): GET /cluster for the members as the DCS sees them,
// GET /patroni for one node's own view of its PostgreSQL.
import { Agent, request, type Dispatcher } from 'undici';
import { HarnessError } from './errors.js';

export interface MemberStatus {
  name: string;
  /** 'leader' | 'replica' | 'sync_standby' | 'standby_leader' (Patroni's /cluster roles). */
  role: 'leader' | 'replica' | string;
  /** 'running', 'starting', 'stopped', 'creating replica', ... */
  state: string;
  /** Bytes behind the leader's last known LSN; null for the leader or when Patroni says "unknown". */
  lagBytes: number | null;
  host: string;
  port: number;
}

interface RawClusterMember {
  name: string;
  role?: string;
  state?: string;
  host?: string;
  port?: number;
  lag?: number | string;
}

export interface NodeStatus {
  state?: string;
  /** 'master' on Patroni 3.x once pg_is_in_recovery() is false; 'primary' on 4.x. */
  role?: string;
  replication?: Array<{ application_name?: string; state?: string }>;
}

/** HTTPS REST APIs of TLS clusters: the harness's client certificate and CA, by origin. */
const tlsAgents = new Map<string, Dispatcher>();

/** Lets the harness read a REST API that requires a client certificate (LocalCluster with tls). */
export function registerRestTls(apiUrls: readonly string[], tls: { ca: string; cert: string; key: string }): Agent {
  const agent = new Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key } });
  for (const url of apiUrls) tlsAgents.set(new URL(url).origin, agent);
  return agent;
}

export function unregisterRestTls(apiUrls: readonly string[]): void {
  for (const url of apiUrls) tlsAgents.delete(new URL(url).origin);
}

async function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const dispatcher = tlsAgents.get(new URL(url).origin);
  const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...(dispatcher ? { dispatcher } : {}) });
  const text = await res.body.text();
  try {
    return { status: res.statusCode, body: JSON.parse(text) as unknown };
  } catch (err) {
    throw new HarnessError(`GET ${url}: not JSON (status ${res.statusCode})`, { cause: err });
  }
}

export async function getClusterMembers(apiUrl: string, timeoutMs = 1500): Promise<MemberStatus[]> {
  const { status, body } = await getJson(`${apiUrl}/cluster`, timeoutMs);
  const members = (body as { members?: RawClusterMember[] }).members;
  if (status !== 200 || !Array.isArray(members)) {
    throw new HarnessError(`GET ${apiUrl}/cluster answered ${status}`);
  }
  return members.map((m) => ({
    name: m.name,
    role: m.role ?? 'unknown',
    state: m.state ?? 'unknown',
    lagBytes: typeof m.lag === 'number' ? m.lag : null,
    host: m.host ?? '',
    port: m.port ?? 0,
  }));
}

/** GET /patroni answers 200 on any member that is up, whatever its role. */
export async function getNodeStatus(apiUrl: string, timeoutMs = 1500): Promise<NodeStatus> {
  const { status, body } = await getJson(`${apiUrl}/patroni`, timeoutMs);
  if (status !== 200) throw new HarnessError(`GET ${apiUrl}/patroni answered ${status}`);
  return body as NodeStatus;
}

export function isPrimaryRole(role: string | undefined): boolean {
  return role === 'master' || role === 'primary';
}
