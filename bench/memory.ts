// Memory per proxied session, and how fast sessions open, HAProxy vs pgrouter (workers 1), with
// its default relay (auto: the native relay where the addon is built) and with `relay: js`.
//
// A fake PostgreSQL primary (bench/lib/fake-pg.ts: startup answered, sockets kept open, a
// Patroni-like /primary) runs as its own process, and so does the client that opens and holds
// the sessions (bench/lib/hold-sessions.ts), so the proxy's RSS grows with the sessions alone.
// Per round and proxy (order reversed every other round), a fresh proxy process:
//   1. starts and routes one test session to the fake primary;
//   2. idle RSS: VmRSS from /proc/<pid>/status (HAProxy: one process, its threads included);
//   3. a client opens N/2 sessions, at most 100 handshakes in flight; half-held RSS after a moment;
//   4. a second client opens the other N/2: held RSS after a moment; rate = N / seconds opening;
//   5. the clients close them; the proxy stops.
// RSS per session = (held − idle) / N; marginal RSS per session = (held − half-held) / (N/2), the
// cost of one more held session without the fixed costs a first burst brings (a grown young
// generation in V8, HAProxy's first pool pages) and without the idle state's luck (a Node
// process measured just before or just after a garbage collection differs by megabytes). pgrouter with the native relay gives a connection burst's
// heap back once the burst is over (src/relay/heap-trim.ts: a quiet second after the heap grew),
// which the settle time before each figure covers; the JS relay keeps its sockets, so its
// sessions' memory stays live.
//
//   node dist/bench/memory.js [--quick] [--sessions N] [--rounds N] [--out FILE]
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeError } from '../src/errors.js';
import { findFreePort, waitFor } from '../test/harness/cluster.js';
import { fmt, log, machineInfo, markdownTable, mean, roundOrder, scratchDir, tcpAccepts, writeResult } from './lib/common.js';
import { HaproxyProcess } from './lib/haproxy.js';
import { ManagedProcess } from './lib/managed-process.js';
import { holdSessions, type Opened } from './lib/holder.js';
import { closeSession, openSession } from './lib/pg-client.js';
import { PgrouterProcess } from './lib/pgrouter.js';
import { heapKiB, rssKiB } from './lib/proc-memory.js';

const PROXIES = ['haproxy', 'pgrouter', 'pgrouter-js'] as const;
type Proxy = (typeof PROXIES)[number];
const HERE = path.dirname(fileURLToPath(import.meta.url));
// HAProxy wants ~2 fds per connection under global maxconn; 8000 fits the 20000 open-files limit.
const HAPROXY_MAXCONN = 8000;

interface Fake {
  pgPort: number;
  apiPort: number;
}


interface MemoryRun extends Opened {
  round: number;
  proxy: Proxy;
  pid: number;
  idle_rss_kib: number;
  held_rss_kib: number;
  per_session_kib: number;
  /** RSS with the second half of the sessions (see above). */
  half_rss_kib: number;
  marginal_per_session_kib: number;
  /** Sessions the fake backend had open while held (proves they went through to the server). */
  backend_open: number;
  /** Sessions that ended on their own while held. */
  lost: number;
  /** pgrouter only: V8 heap used and external memory, idle and held (KiB), for where RSS went. */
  heap_kib: { idle: { heap_used: number; external: number }; held: { heap_used: number; external: number } } | null;
}

interface RunningProxy {
  pid: number;
  port: number;
  configText: string;
  /** pgrouter's Prometheus endpoint, for the V8 heap figures next to RSS. */
  metricsUrl?: string;
  stop: () => Promise<void>;
  /** For signal handlers, which cannot wait. */
  killSync: () => void;
}

/** The proxy being measured, for the exit and signal hooks (the proxies run detached). */
let current: RunningProxy | undefined;

async function startProxy(proxy: Proxy, dir: string, fake: Fake): Promise<RunningProxy> {
  let p: RunningProxy;
  let ready: () => Promise<void>;
  if (proxy === 'haproxy') {
    const h = new HaproxyProcess(dir, {
      nodes: [{ name: 'fake', host: '127.0.0.1', pgPort: fake.pgPort, apiPort: fake.apiPort }],
      ports: { primary: await findFreePort(), replicas: await findFreePort(), stats: await findFreePort() },
      maxconn: HAPROXY_MAXCONN,
      serverMaxconn: null,
    });
    p = { pid: 0, port: h.ports.primary, configText: h.configText, stop: () => h.stop(), killSync: () => h.killSync() };
    ready = async () => {
      await h.start();
      await h.waitForPrimary('fake');
      p.pid = h.pid!;
    };
  } else {
    const r = new PgrouterProcess(dir, {
      scope: 'fake',
      members: [{ name: 'fake', host: '127.0.0.1', port: fake.pgPort, api: `http://127.0.0.1:${fake.apiPort}` }],
      ports: { rw: await findFreePort(), ro: await findFreePort(), http: await findFreePort() },
      // The default listener maxconn (1000) would queue the rest; 0 = unlimited, as HAProxy's server here.
      listenerExtra: { maxconn: 0 },
      ...(proxy === 'pgrouter-js' ? { extra: { relay: 'js' } } : {}),
    });
    const metricsUrl = `http://127.0.0.1:${r.ports.http}/metrics`;
    p = { pid: 0, port: r.ports.rw, configText: r.configText, metricsUrl, stop: () => r.stop(), killSync: () => r.killSync() };
    ready = async () => {
      await r.start();
      p.pid = r.pid!;
    };
  }
  // From here on the hooks know the process, even if it never becomes ready.
  current = p;
  try {
    await ready();
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}

async function measure(round: number, proxy: Proxy, dir: string, fake: Fake, sessions: number, settleMs: number, configs: Record<string, string>): Promise<MemoryRun> {
  const p = await startProxy(proxy, path.join(dir, `${proxy}-${round}`), fake);
  configs[proxy] = p.configText;
  try {
    // One session end to end: the proxy has a confirmed backend and its code paths are warm.
    await waitFor(
      async () => {
        closeSession(await openSession('127.0.0.1', p.port, 2000));
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `${proxy} to route a session to the fake primary` },
    );
    await delay(settleMs);
    const idle = rssKiB(p.pid);
    const heapIdle = p.metricsUrl ? await heapKiB(p.metricsUrl) : null;
    const first = holdSessions(p.port, Math.floor(sessions / 2));
    const openedFirst = await first.opened;
    await delay(settleMs);
    const half = rssKiB(p.pid);
    const second = holdSessions(p.port, sessions - Math.floor(sessions / 2));
    const openedSecond = await second.opened;
    await delay(settleMs);
    const held = rssKiB(p.pid);
    const heapHeld = p.metricsUrl ? await heapKiB(p.metricsUrl) : null;
    const stats = (await (await fetch(`http://127.0.0.1:${fake.apiPort}/stats`)).json()) as { open: number };
    const lost = (await first.close()) + (await second.close());
    const opened = joinOpened(openedFirst, openedSecond);
    const run: MemoryRun = {
      round,
      proxy,
      pid: p.pid,
      idle_rss_kib: idle,
      half_rss_kib: half,
      held_rss_kib: held,
      per_session_kib: opened.ok > 0 ? (held - idle) / opened.ok : NaN,
      marginal_per_session_kib: openedSecond.ok > 0 ? (held - half) / openedSecond.ok : NaN,
      backend_open: stats.open,
      lost,
      heap_kib: heapIdle && heapHeld ? { idle: heapIdle, held: heapHeld } : null,
      ...opened,
    };
    log(
      `round ${round} ${proxy}: ${opened.ok} sessions (${opened.failed} failed) in ${fmt(opened.seconds)} s = ${fmt(opened.rate_per_s ?? NaN, 0)}/s; ` +
        `RSS ${fmt(idle / 1024, 1)} → ${fmt(half / 1024, 1)} → ${fmt(held / 1024, 1)} MiB = ${fmt(run.per_session_kib)} KiB per session, ${fmt(run.marginal_per_session_kib)} marginal` +
        (heapIdle && heapHeld
          ? `; V8 heap used ${fmt((heapHeld.heap_used - heapIdle.heap_used) / opened.ok)} KiB, external ${fmt((heapHeld.external - heapIdle.external) / opened.ok)} KiB per session`
          : ''),
    );
    return run;
  } finally {
    await p.stop();
    current = undefined;
  }
}

/** Two holders' opening figures as one: N sessions over the two opening times. */
function joinOpened(a: Opened, b: Opened): Opened {
  const ok = a.ok + b.ok;
  const seconds = a.seconds + b.seconds;
  const errors = { ...a.errors };
  for (const [why, n] of Object.entries(b.errors)) errors[why] = (errors[why] ?? 0) + n;
  return { ok, failed: a.failed + b.failed, seconds, rate_per_s: seconds > 0 ? ok / seconds : null, errors };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, sessions: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } },
  });
  const sessions = Number(values.sessions ?? (values.quick ? 1000 : 5000));
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 2));
  // 2 s also in a quick run: the native relay gives a burst's heap back after a quiet second (heap-trim.ts).
  const settleMs = 2000;
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > HAPROXY_MAXCONN - 100 || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`usage: memory.js [--quick] [--sessions 1..${HAPROXY_MAXCONN - 100}] [--rounds N]`);
  }
  const machine = await machineInfo();
  const started = new Date().toISOString();
  const dir = scratchDir('memory');
  log(`scratch dir ${dir}`);
  const fake: Fake = { pgPort: await findFreePort(), apiPort: await findFreePort() };
  const fakeProc = new ManagedProcess({
    name: 'fake-pg',
    command: process.execPath,
    args: [path.join(HERE, 'lib', 'fake-pg.js'), '--pg-port', String(fake.pgPort), '--api-port', String(fake.apiPort)],
    logFile: path.join(dir, 'fake-pg.log'),
  });
  await fakeProc.start();
  process.on('exit', () => {
    current?.killSync();
    fakeProc.killSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      process.exit(130);
    });
  }
  const runs: MemoryRun[] = [];
  const configs: Record<string, string> = {};
  try {
    await waitFor(() => tcpAccepts('127.0.0.1', fake.pgPort), { timeoutMs: 10_000, intervalMs: 50, what: 'the fake primary to listen' });
    for (let round = 0; round < rounds; round++) {
      for (const proxy of roundOrder(PROXIES, round)) runs.push(await measure(round, proxy, dir, fake, sessions, settleMs, configs));
    }
  } finally {
    await fakeProc.stop(5000);
  }
  const summary = PROXIES.map((proxy) => {
    const mine = runs.filter((r) => r.proxy === proxy);
    return {
      proxy,
      runs: mine.length,
      per_session_kib: mine.map((r) => r.per_session_kib),
      mean_per_session_kib: mean(mine.map((r) => r.per_session_kib)),
      marginal_per_session_kib: mine.map((r) => r.marginal_per_session_kib),
      mean_marginal_per_session_kib: mean(mine.map((r) => r.marginal_per_session_kib)),
      mean_idle_rss_mib: mean(mine.map((r) => r.idle_rss_kib)) / 1024,
      mean_held_rss_mib: mean(mine.map((r) => r.held_rss_kib)) / 1024,
      mean_rate_per_s: mean(mine.map((r) => r.rate_per_s ?? NaN)),
      failed: mine.reduce((a, r) => a + r.failed, 0),
      lost: mine.reduce((a, r) => a + r.lost, 0),
    };
  });
  const haproxy = summary.find((s) => s.proxy === 'haproxy')!;
  const withRatio = summary.map((s) => ({
    ...s,
    vs_haproxy: s.mean_per_session_kib / haproxy.mean_per_session_kib,
    marginal_vs_haproxy: s.mean_marginal_per_session_kib / haproxy.mean_marginal_per_session_kib,
  }));
  const md = markdownTable(
    [
      'proxy', 'runs', 'KiB per session (per run)', 'KiB per session', 'vs HAProxy', 'marginal KiB per session (per run)', 'marginal', 'vs HAProxy',
      'RSS idle (MiB)', `RSS with ${sessions} (MiB)`, 'sessions/s opening', 'failed', 'lost',
    ],
    withRatio.map((s) => [
      s.proxy,
      String(s.runs),
      s.per_session_kib.map((x) => fmt(x)).join(', '),
      fmt(s.mean_per_session_kib),
      fmt(s.vs_haproxy),
      s.marginal_per_session_kib.map((x) => fmt(x)).join(', '),
      fmt(s.mean_marginal_per_session_kib),
      fmt(s.marginal_vs_haproxy),
      fmt(s.mean_idle_rss_mib, 1),
      fmt(s.mean_held_rss_mib, 1),
      fmt(s.mean_rate_per_s, 0),
      String(s.failed),
      String(s.lost),
    ]),
  );
  const file = writeResult(
    `memory${values.quick ? '-quick' : ''}`,
    {
      bench: 'memory',
      started_at: started,
      finished_at: new Date().toISOString(),
      machine,
      settings: { sessions, rounds, settle_ms: settleMs, handshakes_in_flight: 100, haproxy_maxconn: HAPROXY_MAXCONN, backend: 'bench/lib/fake-pg.ts' },
      configs,
      summary: withRatio,
      runs,
      markdown: md,
    },
    values.out,
  );
  process.stdout.write(`\n## Memory per session, ${sessions} sessions held (${machine.host}, ${machine.cpus} CPUs)\n\n${md}\n\nresults: ${file}\n`);
}

main().catch((err: unknown) => {
  log(`memory bench failed: ${describeError(err)}`);
  process.exitCode = 1;
});
