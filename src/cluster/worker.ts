// One data-path worker process: a DataPath driven by the primary over IPC. It binds only after
// `init` brought its config, the current view and the admin states, so its first client is
// routed with the same picture as every other worker's. It never reads the config file, never
// talks to etcd or Patroni: the primary is its only source of truth, and when the primary goes
// away it closes everything and exits (fail closed: without views it cannot follow a failover).
// When the primary is there but goes quiet (no view and no heartbeat for `missed` heartbeat
// periods, or heartbeats for a view it never got), the worker stops accepting, so a load balancer
// moves new clients elsewhere, and accepts again when it hears the primary (issue 10; stolon's
// proxy closes its listener when its checker stalls).
import { collectDefaultMetrics, Registry } from 'prom-client';
import { deepFreeze } from '../config/freeze.js';
import type { ClusterView } from '../view/cluster-view.js';
import { describeError, errorCode } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { DataPath, type CancelKeyHooks } from '../proxy/data-path.js';
import type { CancelOwner } from '../proxy/cancel-request.js';
import { envelope, parseToWorker, type ToPrimaryBody, type ToWorkerMessage } from './ipc-messages.js';
import { PendingRequests } from './pending-requests.js';
import type { EndReason } from '../sessions/close-reason.js';
import type { WorkerReport } from './types.js';

/** How long a worker waits for the primary to name a cancel key's owner before it broadcasts. */
export const CANCEL_LOOKUP_TIMEOUT_MS = 200;

/** The IPC side of the process (process itself in production; a fake in tests). */
export interface WorkerChannel {
  /** `onError`: the message could not be sent (the channel is closing). */
  send(message: unknown, onError: (err: Error) => void): void;
  onMessage(fn: (message: unknown) => void): void;
  onDisconnect(fn: () => void): void;
  exit(code: number): void;
}

type Owner = CancelOwner | null;
type Init = Extract<ToWorkerMessage, { type: 'init' }>;

export class WorkerProcess {
  private logger: Logger;
  private dataPath: DataPath | null = null;
  private generation = 0;
  private draining = false;
  private exiting = false;
  /** The grace of the exit under way. */
  private graceMs = Number.POSITIVE_INFINITY;
  /** Epoch ms the primary was last heard (a view, or a heartbeat for a view this worker has). */
  private heardAt = 0;
  private stale = false;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly lookups = new PendingRequests<Owner>();
  /** process_* / nodejs_* of this process, summed by the primary with the others'. */
  readonly metrics = new Registry();

  constructor(
    private readonly channel: WorkerChannel,
    private readonly opts: { pid: number; workerId: number; slot?: number },
  ) {
    // Until init says otherwise (the primary resolves --log-level / --log-format).
    this.logger = createLogger({ level: 'info' }).child({ worker: opts.workerId });
    collectDefaultMetrics({ register: this.metrics });
  }

  start(): void {
    this.channel.onMessage((m) => this.onMessage(m));
    this.channel.onDisconnect(() => {
      if (this.exiting) return;
      this.logger.error({ event: 'worker_orphaned' }, 'lost the primary: closing every session and exiting');
      void this.exit(1, 0);
    });
    this.send({ type: 'hello', pid: this.opts.pid });
  }

  private send(body: ToPrimaryBody): void {
    // A closed channel is followed by 'disconnect', whose handler takes it from there.
    this.channel.send(envelope(body), (err) =>
      this.logger.debug({ event: 'ipc_send_failed', type: body.type, err: describeError(err) }, 'cannot send to the primary'),
    );
  }

  private onMessage(raw: unknown): void {
    const parsed = parseToWorker(raw);
    if (parsed.kind === 'foreign') return;
    if (parsed.kind === 'invalid') {
      this.logger.warn({ event: 'ipc_invalid', reason: parsed.reason }, 'dropped a malformed message from the primary');
      return;
    }
    const m = parsed.message;
    try {
      this.handle(m);
    } catch (err) {
      // A handler bug must cost one message, not the worker and its sessions.
      this.logger.error({ event: 'ipc_handler_failed', type: m.type, err: describeError(err) }, 'failed to handle a message from the primary');
      if ('requestId' in m && m.type !== 'cancel_owner') this.send({ type: 'reply', requestId: m.requestId, ok: false, error: describeError(err) });
    }
  }

  private handle(m: ToWorkerMessage): void {
    if (m.type === 'init') {
      void this.init(m);
      return;
    }
    if (m.type === 'cancel_owner') {
      const o = m.owner;
      this.lookups.resolve(m.requestId, o ? { host: o.host, port: o.port, key: o.pid !== undefined && o.key !== undefined ? { pid: o.pid, key: Buffer.from(o.key, 'base64') } : null } : null);
      return;
    }
    const dp = this.dataPath;
    if (!dp) {
      this.logger.warn({ event: 'ipc_before_init', type: m.type }, 'message before init, dropped');
      return;
    }
    switch (m.type) {
      case 'view':
        dp.updateView(deepFreeze(m.view) as ClusterView);
        return this.heard(dp);
      case 'heartbeat':
        // A heartbeat for a view it does not have means views were lost: that is not fresh.
        if (m.generation <= dp.current().generation) this.heard(dp);
        return;
      case 'admin_states':
        return dp.setAdminStates(deepFreeze(m.states));
      case 'paused_listeners':
        return dp.setPausedListeners(deepFreeze(m.paused));
      case 'kill_backend':
        return this.send({ type: 'reply', requestId: m.requestId, ok: true, data: dp.killBackendSessions(m.member, m.reason) });
      case 'query':
        return void this.answer(dp, m.requestId, m.what);
      case 'drain':
        return void this.drain(dp, m.deadlineMs);
      case 'shutdown':
        return void this.exit(0, m.graceMs);
    }
  }

  private async init(m: Init): Promise<void> {
    if (this.dataPath) {
      this.logger.warn({ event: 'ipc_duplicate_init' }, 'second init ignored');
      return;
    }
    const config = deepFreeze(m.config);
    this.generation = m.generation;
    this.logger = createLogger({ level: m.log.level, format: m.log.format }).child({ worker: this.opts.workerId, generation: m.generation });
    const cancelKeys: CancelKeyHooks = {
      learned: (s, key) => {
        const real = s.cancelKey && s.cancelKey !== key ? { realPid: s.cancelKey.pid >>> 0, realKey: s.cancelKey.key.toString('base64') } : {};
        this.send({ type: 'cancel_key', pid: key.pid >>> 0, key: key.key.toString('base64'), backendHost: s.backendHost, backendPort: s.backendPort, sessionId: s.id, ...real });
      },
      forgotten: (key) => this.send({ type: 'cancel_key_gone', pid: key.pid >>> 0, key: key.key.toString('base64') }),
      lookup: (pid, key) => this.lookup(pid, key),
    };
    const dp = new DataPath({ config, logger: this.logger.child({ part: 'proxy' }), cancelKeys, slot: this.opts.slot ?? 0 });
    this.dataPath = dp;
    dp.updateView(deepFreeze(m.view) as ClusterView);
    dp.setAdminStates(deepFreeze(m.admin));
    dp.setPausedListeners(deepFreeze(m.paused ?? {}));
    try {
      await dp.start();
    } catch (err) {
      this.send({ type: 'start_failed', error: describeError(err), code: errorCode(err)?.slice(0, 64) ?? null });
      await this.exit(1, 0);
      return;
    }
    this.send({ type: 'ready', addresses: dp.addresses() });
    this.watchHeartbeat(dp, m.heartbeat);
  }

  private watchHeartbeat(dp: DataPath, hb: { readonly intervalMs: number; readonly missed: number }): void {
    this.heardAt = Date.now();
    const limitMs = hb.intervalMs * hb.missed;
    this.watchdog = setInterval(() => {
      if (this.stale || this.draining || this.exiting || Date.now() - this.heardAt <= limitMs) return;
      this.stale = true;
      this.logger.warn(
        { event: 'view_heartbeat_lost', silent_ms: Date.now() - this.heardAt, view: dp.current().generation },
        'no view or heartbeat from the primary: not accepting new sessions until it is heard again',
      );
      dp.setAccepting(false);
    }, hb.intervalMs);
    this.watchdog.unref();
  }

  private heard(dp: DataPath): void {
    this.heardAt = Date.now();
    if (!this.stale || this.draining || this.exiting) return;
    this.stale = false;
    this.logger.info({ event: 'view_heartbeat_back', view: dp.current().generation }, 'the primary is heard again: accepting new sessions');
    dp.setAccepting(true);
  }

  /** Asks the primary who owns a key this worker does not know; null (broadcast) after 200 ms. */
  private lookup(pid: number, key: Buffer): Promise<Owner> {
    if (this.exiting) return Promise.resolve(null);
    const { id, answer } = this.lookups.create(CANCEL_LOOKUP_TIMEOUT_MS, 'cancel lookup', () => null);
    this.send({ type: 'cancel_lookup', requestId: id, pid: pid >>> 0, key: key.toString('base64') });
    return answer;
  }

  private async answer(dp: DataPath, requestId: number, what: 'stats' | 'sessions' | 'metrics'): Promise<void> {
    try {
      let data: unknown;
      if (what === 'stats') data = this.report(dp);
      else if (what === 'sessions') data = dp.sessions();
      else data = await this.metrics.getMetricsAsJSON();
      this.send({ type: 'reply', requestId, ok: true, data });
    } catch (err) {
      this.send({ type: 'reply', requestId, ok: false, error: describeError(err) });
    }
  }

  private report(dp: DataPath): WorkerReport {
    return {
      pid: this.opts.pid,
      generation: this.generation,
      draining: this.draining,
      sessions: dp.sessionCount(),
      addresses: dp.addresses(),
      traffic: dp.traffic(),
      relay: dp.relay.report(),
      tls_cert_expiry: dp.tlsCertExpiry(),
    };
  }

  /**
   * Reload: stop accepting, keep every session (views still apply to them), exit when none is
   * left, or at the deadline (timeouts.reload_drain): an old worker must not live as long as the
   * longest pooled session, so what it still relays then is closed, with a reason (issue 10).
   */
  private async drain(dp: DataPath, deadlineMs: number): Promise<void> {
    if (this.draining || this.exiting) return;
    this.draining = true;
    this.logger.info({ event: 'worker_draining', sessions: dp.sessionCount(), deadline_ms: deadlineMs }, 'draining: no new connections, sessions kept until they end');
    const deadline = setTimeout(() => {
      this.logger.warn(
        { event: 'reload_drain_deadline', sessions: dp.sessionCount(), deadline_ms: deadlineMs },
        'reload drain deadline reached: closing the sessions this old worker still relays',
      );
      void this.exit(0, 0, 'reload_drain_timeout');
    }, deadlineMs);
    await dp.drain();
    clearTimeout(deadline);
    this.logger.info({ event: 'worker_drained' }, 'last session ended');
    await this.exit(0, 0);
  }

  private async exit(code: number, graceMs: number, reason?: EndReason): Promise<void> {
    if (this.exiting) {
      // A second shutdown (the operator's second SIGTERM) with a shorter grace: the data path
      // closes its sessions now, and the exit already under way completes.
      if (graceMs < this.graceMs) {
        this.graceMs = graceMs;
        this.logger.info({ event: 'worker_close_now', grace_ms: graceMs }, 'closing sessions now');
        await this.dataPath?.close({ graceMs });
      }
      return;
    }
    this.exiting = true;
    this.graceMs = graceMs;
    if (this.watchdog) clearInterval(this.watchdog);
    try {
      await this.dataPath?.close({ graceMs, ...(reason ? { reason } : {}) });
    } catch (err) {
      this.logger.error({ event: 'worker_close_failed', err: describeError(err) }, 'error while closing the data path');
      code = code === 0 ? 1 : code;
    }
    this.lookups.rejectAll(new Error('worker exiting'));
    this.logger.flush();
    this.channel.exit(code);
  }
}
