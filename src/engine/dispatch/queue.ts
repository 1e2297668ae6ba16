import type { Clock, TimerHandle } from '../../core/clock.js';
import { AppError } from '../../errors.js';
import type { ReplicaProvider } from '../../providers/types.js';
import type { QueueReason, Slot } from '../slot.js';
import type { LoadMeter } from './load-meter.js';
import { limitsOf, reasonOf } from './pick.js';
import { report } from './read-models.js';
import type { Entry, Waiter } from './types.js';
import type { ColdStarts } from './wake.js';

/** How a request waits: see `Dispatcher.acquire`. */
export interface WaitOptions {
  readonly signal?: AbortSignal;
  readonly maxWaitMs?: number;
  readonly deadlineAt?: number;
  /** A call another gateway forwarded here: it takes a slot here or waits, never goes on to a third gateway. */
  readonly local?: boolean;
  /**
   * A call whose forward a peer just refused (its gateway gone, not yet out of the member
   * Leases): not forwarded at once (it would go to the same peer), but forwarded when the
   * members change, as any waiting call, unless `local`.
   */
  readonly forwardLater?: boolean;
}

/**
 * The functions' FIFO queues of waiting requests and their timeouts: a waiter leaves with a
 * slot (the dispatcher's `pump`), or is dropped when its wait times out (WAKE_TIMEOUT or
 * QUEUE_TIMEOUT), its client leaves (BAD_REQUEST), or the whole queue is failed (`rejectAll`).
 */
export class WaitQueue {
  constructor(
    private readonly clock: Clock,
    private readonly meter: LoadMeter,
    private readonly wakes: ColdStarts,
    private readonly provider: ReplicaProvider,
  ) {}

  /**
   * Queues a request that got no slot at once; `left` (ms) bounds the wait (a retried call's
   * deadline). QUEUE_FULL at the function's bound; BAD_REQUEST when `signal` already aborted.
   */
  wait(entry: Entry, opts: WaitOptions, left: number): Promise<Slot> {
    const limits = limitsOf(entry);
    const { maxQueued } = limits;
    if (entry.queue.length >= maxQueued) {
      return Promise.reject(new AppError('QUEUE_FULL', `function ${entry.ref.name} already has ${maxQueued} requests waiting`, { details: { maxQueued } }));
    }
    const maxWaitMs = Math.min(opts.maxWaitMs ?? limits.maxWaitMs, left);
    const arrivalReason = reasonOf(entry);
    if (opts.signal?.aborted === true) return Promise.reject(new AppError('BAD_REQUEST', 'client went away'));
    return new Promise<Slot>((resolve, reject) => this.enqueue(entry, maxWaitMs, arrivalReason, opts, resolve, reject));
  }

  /** Empties the queue, rejecting each waiter with `errorFor(waiter)`; the gauges are the caller's to report. */
  rejectAll(entry: Entry, errorFor: (waiter: Waiter) => AppError): void {
    const queue = entry.queue;
    this.meter.count(entry, -queue.length);
    entry.queue = [];
    for (const waiter of queue) {
      waiter.cleanup();
      waiter.reject(errorFor(waiter));
    }
  }

  private enqueue(entry: Entry, maxWaitMs: number, arrivalReason: QueueReason, opts: WaitOptions, resolve: (slot: Slot) => void, reject: (err: Error) => void): void {
    const { clock } = this;
    const { signal } = opts;
    const drop = (err: AppError) => {
      this.meter.count(entry, -1);
      entry.queue = entry.queue.filter((w) => w !== waiter);
      waiter.cleanup();
      if (entry.queue.length === 0) entry.wakeRaised = false;
      report(entry);
      reject(err);
    };
    const onAbort = () => drop(new AppError('BAD_REQUEST', 'client went away while queued'));
    const timer: TimerHandle = clock.setTimeout(() => this.timedOut(entry, maxWaitMs, arrivalReason, drop), maxWaitMs);
    const waiter: Waiter = {
      arrivedAt: clock.now(),
      reason: arrivalReason,
      deadlineAt: opts.deadlineAt,
      local: opts.local === true,
      resolve,
      reject,
      cleanup: () => {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.meter.count(entry, 1);
    entry.queue.push(waiter);
    report(entry);
    // No replica can take it yet: the provider looks for the first ready one at its fastest.
    if (arrivalReason === 'no_replica') this.provider.hurry?.(entry.ref);
    this.wakes.maybeWake(entry);
    this.meter.queued(entry.ref, arrivalReason);
  }

  /** A waiter's `maxWaitMs` passed: WAKE_TIMEOUT when no replica could serve it, else QUEUE_TIMEOUT. */
  private timedOut(entry: Entry, maxWaitMs: number, arrivalReason: QueueReason, drop: (err: AppError) => void): void {
    const details = { maxWaitMs, reason: arrivalReason };
    if (reasonOf(entry) === 'no_replica') {
      drop(this.wakeTimeout(entry, maxWaitMs, details));
      if (entry.queue.length === 0) this.wakes.end(entry, 'timeout');
    } else {
      drop(new AppError('QUEUE_TIMEOUT', `function ${entry.ref.name} had no free replica slot within ${maxWaitMs} ms`, { details }));
    }
  }

  /**
   * WAKE_TIMEOUT for a request that waited `maxWaitMs` for a replica: when the function's
   * replicas keep crashing it names the cause (the provider's last crash: exit code or
   * signal, last stderr line) in the message and in `details` (crashes, exitCode, signal,
   * lastError); else what it waited on (replicas still starting, counted in `details.starting`,
   * or none started).
   */
  private wakeTimeout(entry: Entry, maxWaitMs: number, details: Readonly<Record<string, unknown>>): AppError {
    const { ref } = entry;
    const loop = this.provider.crashLoop?.(ref) ?? null;
    if (loop === null) {
      // Name what it waited on: a replica still starting (slower than the wait), or none at all.
      const { starting } = entry.replicas.counts();
      const cause = starting > 0 ? `: ${starting} replica${starting === 1 ? ' was' : 's were'} still starting` : entry.desired === 0 ? ': no replica was wanted' : ': no replica was started';
      return new AppError('WAKE_TIMEOUT', `function ${ref.name} had no ready replica within ${maxWaitMs} ms${cause}`, { details: { ...details, starting } });
    }
    const { last } = loop;
    return new AppError('WAKE_TIMEOUT', `function ${ref.name} did not become ready: ${last.message}`, {
      details: { ...details, crashes: loop.crashes, exitCode: last.code, signal: last.signal, lastError: last.message },
    });
  }
}
