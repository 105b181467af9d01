// The system the chaos suite runs against: one local cluster whose Patroni REST APIs sit behind
// TCP gates (test/harness/rest-gate.ts), HAProxy with the seeds' config checking the gates'
// ports, and pgrouter reading the same ports from etcd (api_url). Both routers therefore see
// the same REST outages. Everything is stopped by PID, on success, failure or a signal.
import path from 'node:path';
import { describeError } from '../../src/errors.js';
import { LocalCluster, findFreePort } from '../../test/harness/cluster.js';
import { log, scratchDir, stopWithProcess } from '../lib/common.js';
import { HaproxyProcess } from '../lib/haproxy.js';
import { PgrouterProcess } from '../lib/pgrouter.js';

export class ChaosStack {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly cluster: LocalCluster,
    readonly haproxy: HaproxyProcess,
    readonly pgrouter: PgrouterProcess,
  ) {}

  static async start(opts: { synchronousMode: boolean }): Promise<ChaosStack> {
    const dir = scratchDir('chaos');
    log(`scratch dir ${dir}`);
    const cluster = await LocalCluster.start({
      log: (line) => log(`cluster: ${line}`),
      synchronousMode: opts.synchronousMode,
      restGate: true,
      ttl: 10,
    });
    let haproxy: HaproxyProcess | undefined;
    let pgrouter: PgrouterProcess | undefined;
    try {
      haproxy = new HaproxyProcess(path.join(dir, 'haproxy'), {
        // The advertised REST port (the gate), as pgrouter finds it in etcd.
        nodes: cluster.nodes.map((n) => ({ name: n.name, host: n.host, pgPort: n.pgPort, apiPort: cluster.restGate(n.name).port })),
        ports: { primary: await findFreePort(), replicas: await findFreePort(), stats: await findFreePort() },
      });
      await haproxy.start();
      pgrouter = new PgrouterProcess(path.join(dir, 'pgrouter'), {
        scope: cluster.scope,
        etcd: { namespace: cluster.namespace, host: cluster.etcdHost, port: cluster.etcdPort },
        ports: { rw: await findFreePort(), ro: await findFreePort(), http: await findFreePort() },
      });
      await pgrouter.start();
    } catch (err) {
      log(`chaos stack start failed: ${describeError(err)}; tearing down`);
      await pgrouter?.stop();
      await haproxy?.stop();
      await cluster.stop();
      throw err;
    }
    const stack = new ChaosStack(dir, cluster, haproxy, pgrouter);
    stack.installHooks();
    return stack;
  }

  /** The members' PostgreSQL ports, to name the member behind inet_server_port(). */
  memberOfPort(): Map<number, string> {
    return new Map(this.cluster.nodes.map((n) => [n.pgPort, n.name]));
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.pgrouter.stop();
      await this.haproxy.stop();
      await this.cluster.stop();
      log(`chaos stack stopped; configs and logs kept in ${this.dir}`);
    })();
    return this.stopping;
  }

  private installHooks(): void {
    stopWithProcess('chaos stack', () => this.stop(), () => {
      this.pgrouter.killSync();
      this.haproxy.killSync();
    });
  }
}
