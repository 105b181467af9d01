// Router: wires discovery (etcd + probes → ClusterView) to the data path (listeners + sessions).
// This is the single-process layout; cluster mode (a later issue) moves the DataPath into
// workers and ships the same views over IPC. The data path never sees discovery itself.
import type { Config } from './config/types.js';
import type { Logger } from './log.js';
import { Discovery } from './discovery/discovery.js';
import { DataPath } from './proxy/data-path.js';

export class Router {
  readonly discovery: Discovery;
  readonly dataPath: DataPath;
  private unsubscribe: (() => void) | null = null;

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.discovery = new Discovery({ config, logger: logger.child({ part: 'discovery' }) });
    this.dataPath = new DataPath({ config, logger: logger.child({ part: 'proxy' }) });
  }

  async start(): Promise<void> {
    // Subscribe before binding so the first client already sees the freshest view; clients
    // that arrive before a primary is confirmed are held up to timeouts.connect_wait.
    this.unsubscribe = this.discovery.subscribe((view) => this.dataPath.updateView(view));
    await this.dataPath.start();
    await this.discovery.start();
    const listeners = Object.entries(this.dataPath.addresses()).map(([name, a]) => `${name}=${a.host}:${a.port}`);
    this.logger.info({ event: 'started', listeners, mode: this.config.cluster.etcd ? 'etcd' : 'static' }, 'pgrouter started');
  }

  /** Stop accepting, let sessions drain up to graceMs (default timeouts.shutdown_grace), then close everything. */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    const graceMs = opts.graceMs ?? this.config.timeouts.shutdown_grace;
    await this.dataPath.close({ graceMs });
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.discovery.close();
    this.logger.info({ event: 'stopped' }, 'pgrouter stopped');
  }
}
