// Getting a backend for one client: a maxconn slot first (FIFO queue, timeouts.queue), then a
// route under the current view; with none, the client is held up to timeouts.connect_wait and
// tries again on every new view (and shortly after every candidate refused the connection).
// Fails closed: when the wait is over the client gets 57P03, never a guessed backend.
// While its listener is paused (issue 13) a client is held the same way, up to the pause's own
// hold limit, and told so if that runs out.
import type { ListenerConfig, TimeoutsConfig } from '../config/types.js';
import type { ListenerPause } from '../routing/pause.js';
import type { MemberView } from '../view/cluster-view.js';
import type { Admission } from './admission.js';
import { errorResponse, SQLSTATE } from '../protocol/messages.js';

export interface Route {
  readonly member: MemberView;
  readonly viaFallback: boolean;
}

/** Something the listener wakes on every new view while it is held. */
export interface Wakeable {
  wake(): void;
}

export interface WaiterContext {
  readonly listener: ListenerConfig;
  readonly timeouts: TimeoutsConfig;
  readonly admission: Admission;
  now(): number;
  /** A backend under the current view, skipping `exclude`; null = none now. */
  route(exclude: ReadonlySet<string>): Route | null;
  hold(w: Wakeable): void;
  unhold(w: Wakeable): void;
  /** The operator's pause of this listener, or null (absent: never paused). route() returns null while paused. */
  pause?(): ListenerPause | null;
}

export interface WaiterEvents {
  /** Connect to this backend. The slot stays taken until close(). */
  onRoute(route: Route): void;
  /** Give up: send `message` (an ErrorResponse) and close, counted under `reason`. */
  onRefuse(reason: 'queue_timeout' | 'no_backend' | 'paused', message: Buffer): void;
  /** Wraps timer callbacks so that a failure closes this client only. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
}

/** What a listener of each role was waiting for, in the 57P03 message. */
const BACKEND_WORD: Readonly<Record<ListenerConfig['role'], string>> = { primary: 'primary', replica: 'replica', sync: 'synchronous standby', read_only: 'read-only member' };

/** Re-try interval while held after every candidate refused the connection. */
export const CONNECT_RETRY_MS = 250;

export class BackendWaiter implements Wakeable {
  private state: 'idle' | 'queued' | 'held' | 'routed' | 'closed' = 'idle';
  private hasSlot = false;
  private readonly excluded = new Set<string>();
  private holdDeadline: number | null = null;
  private waitTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: WaiterContext,
    private readonly events: WaiterEvents,
  ) {}

  /** Takes a slot (or queues for one), then routes. */
  begin(): void {
    if (this.state === 'closed') return;
    if (this.hasSlot) return this.tryRoute();
    if (this.ctx.admission.acquire(this.onGranted)) {
      this.hasSlot = true;
      return this.tryRoute();
    }
    this.state = 'queued';
    this.waitTimer = setTimeout(
      this.events.guard(() => {
        this.ctx.admission.withdraw(this.onGranted);
        this.state = 'idle';
        this.events.onRefuse('queue_timeout', errorResponse(SQLSTATE.TOO_MANY_CONNECTIONS, `too many connections for listener ${this.ctx.listener.name}`));
      }),
      this.ctx.timeouts.queue,
    );
  }

  /** The routed backend failed before the client saw a byte from it; null = the view moved on. */
  retry(failed: string | null): void {
    if (this.state === 'closed') return;
    if (failed !== null) this.excluded.add(failed);
    this.tryRoute();
  }

  wake(): void {
    if (this.state !== 'held') return;
    this.excluded.clear();
    this.tryRoute();
  }

  /** Releases the slot, the queue place, the hold and the timers. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    if (this.state === 'queued') this.ctx.admission.withdraw(this.onGranted);
    this.state = 'closed';
    this.leaveHold();
    if (this.hasSlot) this.ctx.admission.release();
    this.hasSlot = false;
  }

  private readonly onGranted = (): void => {
    if (this.state !== 'queued') {
      // Withdrawn meanwhile: pass the slot on at once.
      this.ctx.admission.release();
      return;
    }
    this.hasSlot = true;
    this.clearWaitTimer();
    this.state = 'idle';
    this.events.guard(() => this.tryRoute())();
  };

  private tryRoute(): void {
    const route = this.ctx.route(this.excluded);
    if (route) {
      this.leaveHold();
      this.state = 'routed';
      return this.events.onRoute(route);
    }
    const now = this.ctx.now();
    const pause = this.ctx.pause?.() ?? null;
    this.holdDeadline ??= now + (pause ? pause.hold_ms : this.ctx.timeouts.connect_wait);
    const left = this.holdDeadline - now;
    if (left <= 0) return this.refuseNoBackend();
    if (this.state !== 'held') {
      this.state = 'held';
      this.ctx.hold(this);
      this.waitTimer = setTimeout(this.events.guard(() => this.refuseNoBackend()), left);
    }
    // Every candidate refused: try them again shortly even if no new view comes.
    if (this.excluded.size > 0 && this.retryTimer === null) {
      this.retryTimer = setTimeout(
        this.events.guard(() => {
          this.retryTimer = null;
          this.wake();
        }),
        CONNECT_RETRY_MS,
      );
    }
  }

  private refuseNoBackend(): void {
    const l = this.ctx.listener;
    this.leaveHold();
    this.state = 'idle';
    if (this.ctx.pause?.()) {
      return this.events.onRefuse('paused', errorResponse(SQLSTATE.CANNOT_CONNECT_NOW, `listener ${l.name} is paused for maintenance`));
    }
    const msg = `no ${BACKEND_WORD[l.role]} available for listener ${l.name}`;
    this.events.onRefuse('no_backend', errorResponse(SQLSTATE.CANNOT_CONNECT_NOW, msg));
  }

  private leaveHold(): void {
    this.ctx.unhold(this);
    this.clearWaitTimer();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearWaitTimer(): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
  }
}
