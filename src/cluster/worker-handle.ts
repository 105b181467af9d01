// The primary's handle on one worker process: its state, its last report, and the requests
// waiting for its replies. Sending never throws: a worker that is going away loses the message,
// and its 'exit' event (not a failed send) is what the supervisor acts on.
import type { Worker } from 'node:cluster';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { envelope, type ToWorkerBody } from './ipc-messages.js';
import { PendingRequests } from './pending-requests.js';
import type { WorkerInfo, WorkerReport, WorkerState } from './types.js';

/** Bodies of the messages that expect a `reply` (their requestId is filled in here). */
type Request = Extract<ToWorkerBody, { requestId: number }>;
type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'requestId'> : never) : never;

export class WorkerHandle {
  state: WorkerState = 'starting';
  /** `init` was sent: from now on it gets every view and admin-state change. */
  initSent = false;
  report: WorkerReport | null = null;
  readonly startedAt: number;
  private readonly pending = new PendingRequests<unknown>();

  constructor(
    readonly worker: Worker,
    /** Position in its cohort; a respawned worker takes over the slot of the one that died. */
    readonly slot: number,
    readonly generation: number,
    private readonly logger: Logger,
    now: number,
  ) {
    this.startedAt = now;
  }

  get id(): number {
    return this.worker.id;
  }

  get pid(): number | null {
    return this.worker.process.pid ?? null;
  }

  /** Accepting (ready) or still holding sessions (draining, stopping): worth asking for stats. */
  get serving(): boolean {
    return this.state !== 'starting';
  }

  send(body: ToWorkerBody): void {
    if (!this.worker.isConnected()) return;
    this.worker.send(envelope(body), undefined, (err: Error | null) => {
      if (err) this.logger.debug({ event: 'ipc_send_failed', worker: this.id, type: body.type, err: describeError(err) }, 'cannot send to a worker');
    });
  }

  /** Sends a request and resolves with the worker's `reply` data; rejects on error or timeout. */
  request(body: RequestBody, timeoutMs: number): Promise<unknown> {
    const { id, answer } = this.pending.create(timeoutMs, `worker ${this.id} ${body.type}`);
    this.send({ ...body, requestId: id } as Request);
    return answer;
  }

  settle(requestId: number, reply: { ok: true; data: unknown } | { ok: false; error: string }): void {
    const known = reply.ok ? this.pending.resolve(requestId, reply.data) : this.pending.reject(requestId, new Error(`worker ${this.id}: ${reply.error}`));
    if (!known) this.logger.debug({ event: 'ipc_late_reply', worker: this.id, requestId }, 'reply to a request that already timed out');
  }

  /** The process exited: nothing it owes will come. */
  failAll(): void {
    this.pending.rejectAll(new Error(`worker ${this.id} exited`));
  }

  info(): WorkerInfo {
    return { id: this.id, pid: this.pid, generation: this.generation, state: this.state, startedAt: this.startedAt, report: this.report };
  }
}
