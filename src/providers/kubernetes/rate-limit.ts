/**
 * The client-side budget of Kubernetes API requests: a token bucket (client-go's
 * flowcontrol.NewTokenBucketRateLimiter: `qps` tokens a second, at most `burst` saved up)
 * with a priority queue in front of it, and the pause a 429 asks for (API priority and
 * fairness sends Retry-After). Watches do not take tokens (they are long-lived streams).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { AppError } from '../../errors.js';

/**
 * Who waits for whom: `scale` (replica writes, and the reads and Lease renewals the control
 * loop cannot go without) before `state` (alert state patches, one-off reads) before `event`
 * (Kubernetes Events, which are only a record). A lower class waits while a higher one has
 * requests queued; it never delays one.
 */
export type RequestPriority = 'scale' | 'state' | 'event';

/** Highest first. */
export const PRIORITIES: readonly RequestPriority[] = ['scale', 'state', 'event'];

/**
 * Defaults, and why: client-go's are 5 QPS / burst 10, kube-controller-manager's 20 / 30;
 * both serve a few objects changing now and then. alert-scaler must serve 200 alert steps a
 * second (the acceptance load), each at most one Deployment PATCH (state and count in one
 * write), a pod patch per removed replica on a scale-down, and Events at most one per
 * function per aggregation interval: about 300 requests a second at that load. 400 leaves a
 * quarter of headroom for the list/watch re-lists and Lease renewals; a burst of 2 s (800)
 * absorbs a notification flood's first second without queueing. The apiserver still
 * protects itself (APF answers 429 with Retry-After, honoured below).
 */
export const DEFAULT_API_QPS = 400;
export const DEFAULT_API_BURST = 800;
/** Requests that may wait per priority; a request past it is refused (QUEUE_FULL): an Event is dropped. */
export const DEFAULT_QUEUE_LIMITS: Readonly<Record<RequestPriority, number>> = { scale: 10_000, state: 10_000, event: 1_000 };
/** Longest pause a Retry-After can impose, ms (a larger value is cut to it). */
export const DEFAULT_MAX_RETRY_AFTER_MS = 30_000;
/** Times a request answered 429 is sent again before PROVIDER_UNAVAILABLE. */
export const DEFAULT_RETRIES_429 = 3;

export interface RateLimiterOptions {
  /** Tokens per second; 0 or less: no limit (every request goes at once; 429 pauses still apply). */
  readonly qps: number;
  /** Tokens saved up at most (and at start); at least 1. */
  readonly burst: number;
  readonly clock: Clock;
  /** Waiting requests per priority; DEFAULT_QUEUE_LIMITS for the missing ones. */
  readonly queueLimits?: Partial<Record<RequestPriority, number>>;
  /** Longest pause after a 429, ms; default DEFAULT_MAX_RETRY_AFTER_MS. */
  readonly maxRetryAfterMs?: number;
  /** Resends of a request answered 429; default DEFAULT_RETRIES_429. */
  readonly retries429?: number;
  /** Called on each 429 (a metric). */
  readonly onThrottled?: () => void;
}

/** What the limiter did since it was made; for metrics and tests. */
export interface RateLimiterStats {
  readonly granted: Readonly<Record<RequestPriority, number>>;
  /** Refused because their priority's queue was full. */
  readonly refused: Readonly<Record<RequestPriority, number>>;
  /** Requests answered 429. */
  readonly throttled: number;
  /** Requests waiting now, per priority. */
  readonly waiting: Readonly<Record<RequestPriority, number>>;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const zero = (): Record<RequestPriority, number> => ({ scale: 0, state: 0, event: 0 });

/** Reads a Retry-After (seconds, or an HTTP date) into ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Token bucket + priority queue + 429 pause, on a Clock (the virtual one in tests). A request
 * takes a token at once when none of its class or a higher one waits; otherwise it queues
 * in its class and is released in priority order as tokens come. A 429 pauses the whole
 * client: no token is granted until the pause ends.
 */
export class RateLimiter {
  private readonly queues: Record<RequestPriority, Waiter[]> = { scale: [], state: [], event: [] };
  private readonly limits: Record<RequestPriority, number>;
  private readonly granted = zero();
  private readonly refused = zero();
  private throttled = 0;
  private tokens: number;
  private refilledAt: number;
  private pausedUntil = 0;
  private timer: TimerHandle | undefined;
  private timerDue = Infinity;
  private closed = false;
  private readonly maxRetryAfterMs: number;
  private readonly retries429: number;

  constructor(private readonly options: RateLimiterOptions) {
    this.tokens = Math.max(1, options.burst);
    this.refilledAt = options.clock.now();
    this.limits = { ...DEFAULT_QUEUE_LIMITS, ...options.queueLimits };
    this.maxRetryAfterMs = Math.max(0, options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS);
    this.retries429 = Math.max(0, options.retries429 ?? DEFAULT_RETRIES_429);
  }

  /**
   * Resolves when the request may go: at once when a token is free and nothing of its
   * priority or higher waits. Rejects with QUEUE_FULL when its class's queue is full, and
   * with SHUTTING_DOWN once closed.
   */
  acquire(priority: RequestPriority): Promise<void> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'the Kubernetes API client is closed'));
    this.refill();
    if (this.options.clock.now() >= this.pausedUntil && !this.waitingAtOrAbove(priority) && this.take()) {
      this.granted[priority] += 1;
      return Promise.resolve();
    }
    const queue = this.queues[priority];
    if (queue.length >= this.limits[priority]) {
      this.refused[priority] += 1;
      return Promise.reject(new AppError('QUEUE_FULL', `${priority} requests to the Kubernetes API: ${queue.length} already waiting`, { details: { priority } }));
    }
    return new Promise<void>((resolve, reject) => {
      queue.push({ resolve, reject });
      this.schedule();
    });
  }

  /** A 429: no request goes before `ms` (cut to maxRetryAfterMs) from now. */
  pause(ms: number): void {
    this.throttled += 1;
    this.options.onThrottled?.();
    const until = this.options.clock.now() + Math.min(Math.max(0, ms), this.maxRetryAfterMs);
    if (until > this.pausedUntil) this.pausedUntil = until;
    this.schedule();
  }

  /**
   * Sends `request` within the budget at `priority`. An answer the caller's `retryAfter` reads
   * as a 429 (its Retry-After in ms, or 1 s when it gave none) pauses the client and sends
   * it again, at most `retries429` times; then the last error is thrown as it came.
   */
  async run<T>(priority: RequestPriority, request: () => Promise<T>, retryAfter: (err: unknown) => number | undefined): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.acquire(priority);
      try {
        return await request();
      } catch (err) {
        const wait = retryAfter(err);
        if (wait === undefined) throw err;
        this.pause(wait);
        if (attempt >= this.retries429) throw err;
      }
    }
  }

  /** Counts so far and what waits now. */
  stats(): RateLimiterStats {
    const waiting = zero();
    for (const p of PRIORITIES) waiting[p] = this.queues[p].length;
    return { granted: { ...this.granted }, refused: { ...this.refused }, throttled: this.throttled, waiting };
  }

  /** Refuses every waiting and later request (SHUTTING_DOWN). */
  close(): void {
    this.closed = true;
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const err = new AppError('SHUTTING_DOWN', 'the Kubernetes API client is closed');
    for (const p of PRIORITIES) for (const w of this.queues[p].splice(0)) w.reject(err);
  }

  private get unlimited(): boolean {
    return this.options.qps <= 0;
  }

  private waitingAtOrAbove(priority: RequestPriority): boolean {
    for (const p of PRIORITIES) {
      if (this.queues[p].length > 0) return true;
      if (p === priority) return false;
    }
    return false;
  }

  private refill(): void {
    const now = this.options.clock.now();
    if (!this.unlimited) this.tokens = Math.min(Math.max(1, this.options.burst), this.tokens + ((now - this.refilledAt) * this.options.qps) / 1000);
    this.refilledAt = now;
  }

  private take(): boolean {
    if (this.unlimited) return true;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Grants waiting requests, highest priority first, while tokens last and no pause holds. */
  private release(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    this.refill();
    if (this.options.clock.now() >= this.pausedUntil) {
      for (const p of PRIORITIES) {
        const queue = this.queues[p];
        while (queue.length > 0 && this.take()) {
          this.granted[p] += 1;
          queue.shift()?.resolve();
        }
        if (queue.length > 0) break;
      }
    }
    this.schedule();
  }

  /** One timer, at the earlier of the pause's end and the next token, while anything waits. */
  private schedule(): void {
    if (this.closed || PRIORITIES.every((p) => this.queues[p].length === 0)) return;
    const now = this.options.clock.now();
    const nextToken = this.unlimited || this.tokens >= 1 ? now : now + Math.ceil(((1 - this.tokens) * 1000) / this.options.qps);
    const due = Math.max(this.pausedUntil, nextToken);
    if (this.timer !== undefined && this.timerDue <= due) return;
    this.options.clock.clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = this.options.clock.setTimeout(() => this.release(), due - now);
    this.timer.unref();
  }
}
