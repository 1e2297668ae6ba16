import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { refKey, type FunctionRef, type ReplicaState, type Upstream } from '../providers/types.js';
import type { Scaler } from '../scaling/scaler.js';

/** A ready upstream for one request; `waitedMs` is null when the request was not held. */
export interface Acquired {
  readonly upstream: Upstream;
  readonly waitedMs: number | null;
}

interface Waiter {
  readonly arrivedAt: number;
  readonly resolve: (acquired: Acquired) => void;
  readonly reject: (err: Error) => void;
  readonly cleanup: () => void;
}

interface Sleeper {
  readonly ref: FunctionRef;
  readonly label: string;
  queue: Waiter[];
  /** When the current wake began; null when no wake is in progress. */
  wakeStartedAt: number | null;
  /** A scale call of this sleeper is running (single flight). */
  scaling: boolean;
  /** The provider reported desired 0 during that call: check again when it ends. */
  recheck: boolean;
}

export interface WakerOptions {
  readonly scaler: Scaler;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Held requests per function before new ones get QUEUE_FULL. */
  readonly maxHeld: number;
  /** Monotonic clock in milliseconds. */
  readonly now?: () => number;
}

/**
 * Holds requests for a function with no ready replica, wakes it once (single flight) to
 * max(min, 1) replicas, and hands the held requests, in arrival order, to the first ready
 * replica the moment the provider reports it. Readiness is pushed by the provider's
 * subscription, never polled here. When the provider reports desired 0 while requests are
 * held (a manual scale to 0, or the idler racing the wake), the function is woken again.
 */
export class Waker {
  private readonly sleepers = new Map<string, Sleeper>();
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly options: WakerOptions) {
    this.now = options.now ?? (() => performance.now());
    this.unsubscribe = options.scaler.provider.subscribe((ref, state) => {
      if (state.ready > 0) this.dispatch(refKey(ref));
      else if (state.desired === 0) this.rewake(refKey(ref));
    });
  }

  /** Answers every held request with SHUTTING_DOWN; later requests get it at once. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const sleeper of this.sleepers.values()) this.rejectAll(sleeper, new AppError('SHUTTING_DOWN', 'gateway is shutting down'));
  }

  /** Requests held for a function right now. */
  heldCount(ref: FunctionRef): number {
    return this.sleepers.get(refKey(ref))?.queue.length ?? 0;
  }

  /**
   * Returns a ready upstream for one request, holding it while the function wakes.
   * Rejects with QUEUE_FULL, WAKE_TIMEOUT (after the function's wake timeout) or WAKE_FAILED;
   * an aborted `signal` (client gone) removes the request from the queue.
   */
  acquire(ref: FunctionRef, state: ReplicaState, signal: AbortSignal): Promise<Acquired> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'gateway is shutting down'));
    const key = refKey(ref);
    const sleeper = this.sleepers.get(key);
    if (sleeper === undefined || sleeper.queue.length === 0) {
      const upstream = this.options.scaler.provider.pickUpstream(ref);
      if (upstream !== null) return Promise.resolve({ upstream, waitedMs: null });
    }
    const policy = this.options.scaler.policyOf(state);
    if (!policy.ok) return Promise.reject(new AppError('LABELS_INVALID', `function ${ref.name} has invalid scale labels: ${policy.problems.join('; ')}`));
    const entry = sleeper ?? this.createSleeper(ref);
    if (entry.queue.length >= this.options.maxHeld) {
      return Promise.reject(new AppError('QUEUE_FULL', `function ${ref.name} is waking and already holds ${this.options.maxHeld} requests`));
    }
    if (signal.aborted) return Promise.reject(new AppError('BAD_REQUEST', 'client went away'));
    const wakeTimeoutMs = policy.policy.wakeTimeoutMs;
    const promise = new Promise<Acquired>((resolve, reject) => {
      const onAbort = () => {
        this.remove(entry, waiter);
        reject(new AppError('BAD_REQUEST', 'client went away while held'));
      };
      const timer = setTimeout(() => {
        this.remove(entry, waiter);
        if (entry.queue.length === 0 && entry.wakeStartedAt !== null) this.endWake(entry, 'timeout');
        reject(new AppError('WAKE_TIMEOUT', `function ${ref.name} had no ready replica within ${wakeTimeoutMs} ms`, { details: { wakeTimeoutMs } }));
      }, wakeTimeoutMs);
      const waiter: Waiter = {
        arrivedAt: this.now(),
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.queue.push(waiter);
      this.reportHeld(entry);
    });
    if (entry.wakeStartedAt === null) {
      entry.wakeStartedAt = this.now();
      void this.wake(entry);
    }
    return promise;
  }

  /** Desired 0 with requests held: wake again, once, unless a scale call is running. */
  private rewake(key: string): void {
    const sleeper = this.sleepers.get(key);
    if (this.closed || sleeper === undefined || sleeper.queue.length === 0) return;
    if (sleeper.scaling) {
      sleeper.recheck = true;
      return;
    }
    this.options.logger.info('woken function scaled to zero, waking again', { function: sleeper.label, held: sleeper.queue.length });
    sleeper.wakeStartedAt ??= this.now();
    void this.wake(sleeper);
  }

  private createSleeper(ref: FunctionRef): Sleeper {
    const sleeper: Sleeper = { ref, label: this.options.scaler.label(ref), queue: [], wakeStartedAt: null, scaling: false, recheck: false };
    this.sleepers.set(refKey(ref), sleeper);
    return sleeper;
  }

  /** The held-requests gauge always shows the queue's length. */
  private reportHeld(sleeper: Sleeper): void {
    this.options.metrics.heldRequests.set({ function_name: sleeper.label }, sleeper.queue.length);
  }

  private remove(sleeper: Sleeper, waiter: Waiter): void {
    waiter.cleanup();
    sleeper.queue = sleeper.queue.filter((w) => w !== waiter);
    this.reportHeld(sleeper);
  }

  /** One scale call per wake, under the function's lock, only when it wants 0 replicas. */
  private async wake(sleeper: Sleeper): Promise<void> {
    const { scaler, logger } = this.options;
    sleeper.scaling = true;
    sleeper.recheck = false;
    try {
      await scaler.locked(sleeper.ref, async () => {
        const state = await scaler.provider.getReplicas(sleeper.ref);
        const policy = scaler.policyOf(state);
        if (!policy.ok) throw new AppError('LABELS_INVALID', policy.problems.join('; '));
        if (state.desired > 0) return;
        await scaler.apply(sleeper.ref, state.desired, { replicas: Math.max(policy.policy.minReplicas, 1), reason: 'wake' }, 'waker');
      });
      logger.info('wake requested', { function: sleeper.label, held: sleeper.queue.length });
    } catch (err) {
      sleeper.scaling = false;
      const cause = err instanceof Error ? err : new Error(String(err));
      logger.error('wake failed', { function: sleeper.label, error: cause.message });
      this.endWake(sleeper, 'failed');
      this.rejectAll(sleeper, new AppError('WAKE_FAILED', `function ${sleeper.ref.name} could not be woken: ${cause.message}`, { cause }));
      return;
    }
    sleeper.scaling = false;
    this.dispatch(refKey(sleeper.ref));
    // Scaled to 0 while this call ran: wake() reads the state again under the lock.
    if (sleeper.recheck) this.rewake(refKey(sleeper.ref));
  }

  private endWake(sleeper: Sleeper, outcome: 'ready' | 'timeout' | 'failed'): void {
    if (sleeper.wakeStartedAt === null) return;
    const durationMs = this.now() - sleeper.wakeStartedAt;
    sleeper.wakeStartedAt = null;
    this.options.metrics.coldStarts.inc({ function_name: sleeper.label, outcome });
    if (outcome === 'ready') this.options.metrics.coldStartSeconds.observe({ function_name: sleeper.label }, durationMs / 1000);
    this.options.logger.info('wake finished', { function: sleeper.label, outcome, durationMs: Math.round(durationMs * 1000) / 1000 });
  }

  /** Hands held requests, oldest first, to ready replicas. */
  private dispatch(key: string): void {
    const sleeper = this.sleepers.get(key);
    if (sleeper === undefined || sleeper.queue.length === 0) return;
    const now = this.now();
    while (sleeper.queue.length > 0) {
      const upstream = this.options.scaler.provider.pickUpstream(sleeper.ref);
      if (upstream === null) break;
      const waiter = sleeper.queue.shift() as Waiter;
      waiter.cleanup();
      if (sleeper.wakeStartedAt !== null) this.endWake(sleeper, 'ready');
      waiter.resolve({ upstream, waitedMs: now - waiter.arrivedAt });
    }
    this.reportHeld(sleeper);
  }

  private rejectAll(sleeper: Sleeper, err: AppError): void {
    const queue = sleeper.queue;
    sleeper.queue = [];
    for (const waiter of queue) {
      waiter.cleanup();
      waiter.reject(err);
    }
    this.reportHeld(sleeper);
  }
}
