import type { Clock } from '../../core/clock.js';
import type { FunctionRef } from '../../providers/types.js';
import type { QueueReason } from '../slot.js';
import type { Entry } from './types.js';

/**
 * The load of each function as the dispatcher sees it: requests present (in flight plus
 * waiting) and their time integral, which the concurrency policy reads, and the listeners
 * told when a quiet function gets a request (`onActive`), a request queues (`onQueued`) or a
 * replica's last request ends (`onIdle`). No listener: no array copied, no call made.
 */
export class LoadMeter {
  private readonly idleListeners = new Set<(ref: FunctionRef, replicaId: string) => void>();
  private readonly queuedListeners = new Set<(ref: FunctionRef, reason: QueueReason) => void>();
  private readonly activeListeners = new Set<(ref: FunctionRef) => void>();

  constructor(private readonly clock: Clock) {}

  /** Closes the integral's segment at the old value, then changes the count of present requests. */
  count(entry: Entry, delta: number): void {
    if (delta === 0) return;
    const now = this.clock.now();
    entry.area += entry.present * (now - entry.areaAt);
    entry.areaAt = now;
    const quiet = entry.present === 0;
    entry.present += delta;
    if (delta > 0) entry.arrivals += delta;
    if (quiet && delta > 0 && this.activeListeners.size > 0) for (const listener of [...this.activeListeners]) listener(entry.ref);
  }

  /** The integral of requests present up to now, request·ms, and now (clock ms); zero for no entry. */
  integral(entry: Entry | undefined): { readonly sum: number; readonly at: number } {
    const now = this.clock.now();
    if (entry === undefined) return { sum: 0, at: now };
    return { sum: entry.area + entry.present * (now - entry.areaAt), at: now };
  }

  /** A replica's in-flight count dropped to 0. */
  idle(ref: FunctionRef, replicaId: string): void {
    if (this.idleListeners.size > 0) for (const listener of [...this.idleListeners]) listener(ref, replicaId);
  }

  /** A request joined the function's queue, waiting for `reason`. */
  queued(ref: FunctionRef, reason: QueueReason): void {
    if (this.queuedListeners.size > 0) for (const listener of [...this.queuedListeners]) listener(ref, reason);
  }

  /** See `Dispatcher.onIdle`. */
  onIdle(listener: (ref: FunctionRef, replicaId: string) => void): () => void {
    this.idleListeners.add(listener);
    return () => this.idleListeners.delete(listener);
  }

  /** See `Dispatcher.onQueued`. */
  onQueued(listener: (ref: FunctionRef, reason: QueueReason) => void): () => void {
    this.queuedListeners.add(listener);
    return () => this.queuedListeners.delete(listener);
  }

  /** See `Dispatcher.onActive`. */
  onActive(listener: (ref: FunctionRef) => void): () => void {
    this.activeListeners.add(listener);
    return () => this.activeListeners.delete(listener);
  }
}
