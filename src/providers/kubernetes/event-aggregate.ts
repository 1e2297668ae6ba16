/**
 * Kubernetes Events per function, aggregated as client-go's EventCorrelator does: the first
 * `Scaled` change of a function creates an Event; later ones bump that Event's count (one
 * PATCH: count, message, lastTimestamp), and a function's Event is written at most once per
 * interval, whatever the number of changes in it. An alert flood then costs one Event write
 * per function per interval, never one per step.
 */
import type { Logger } from 'winston';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { isAppError } from '../../errors.js';
import { refKey, type FunctionRef } from '../types.js';

/** Default interval between two writes of one function's Event, ms. */
export const DEFAULT_EVENT_INTERVAL_MS = 30_000;
/** Functions whose Event name is remembered (client-go's correlator keeps 4096 too); the oldest is forgotten. */
export const DEFAULT_EVENT_FUNCTIONS = 4096;
/** Event writes in flight at once. */
export const EVENT_WRITES_IN_FLIGHT = 4;

/** One function's latest change, as the Event shows it. */
export interface ScaleChange {
  readonly from: number;
  readonly to: number;
  /** Why (reason, source, alert). */
  readonly message: string;
}

/** The two writes: create a function's Event (returns its name), bump an existing one. */
export interface ScaleEventApi {
  create(ref: FunctionRef, change: ScaleChange, count: number, now: Date): Promise<string>;
  /** Sets count, message and lastTimestamp of the Event `name`; FUNCTION_UNKNOWN when it is gone (Events expire). */
  bump(ref: FunctionRef, name: string, change: ScaleChange, count: number, now: Date): Promise<void>;
}

export interface EventAggregatorOptions {
  readonly api: ScaleEventApi;
  readonly clock: Clock;
  readonly logger: Logger;
  /** At most one write per function per this many ms; default DEFAULT_EVENT_INTERVAL_MS. */
  readonly intervalMs?: number;
  /** Functions remembered; default DEFAULT_EVENT_FUNCTIONS. */
  readonly maxFunctions?: number;
  /** Called with each change that was not written (the API refused it: QUEUE_FULL when the budget's Event queue is full, or an error). */
  readonly onDropped?: (reason: 'queue_full' | 'failed') => void;
}

interface Entry {
  readonly ref: FunctionRef;
  /** The Event's name once created. */
  name: string | undefined;
  /** The count it shows. */
  count: number;
  /** Changes not written yet, and the latest of them. */
  unwritten: number;
  latest: ScaleChange | undefined;
  lastWriteAt: number;
  timer: TimerHandle | undefined;
  writing: boolean;
}

/** See the file comment. */
export class EventAggregator {
  private readonly entries = new Map<string, Entry>();
  private readonly intervalMs: number;
  private readonly maxFunctions: number;
  private readonly ready: Entry[] = [];
  private inFlight = 0;
  private dropped = 0;
  private written = 0;

  constructor(private readonly options: EventAggregatorOptions) {
    this.intervalMs = Math.max(0, options.intervalMs ?? DEFAULT_EVENT_INTERVAL_MS);
    this.maxFunctions = Math.max(1, options.maxFunctions ?? DEFAULT_EVENT_FUNCTIONS);
  }

  /** Notes an applied change of `ref`; written now if its interval has passed, else at its end. Never throws. */
  record(ref: FunctionRef, change: ScaleChange): void {
    const key = refKey(ref);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { ref, name: undefined, count: 0, unwritten: 0, latest: undefined, lastWriteAt: -Infinity, timer: undefined, writing: false };
      this.entries.set(key, entry);
      this.evict();
    } else {
      // Most recently used last: the oldest is evicted first.
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    entry.unwritten += 1;
    entry.latest = change;
    this.due(entry);
  }

  /** Writes done and changes dropped so far; for metrics and tests. */
  stats(): { written: number; dropped: number; functions: number } {
    return { written: this.written, dropped: this.dropped, functions: this.entries.size };
  }

  /** Cancels the pending writes (their changes are not written). */
  close(): void {
    for (const entry of this.entries.values()) this.options.clock.clearTimeout(entry.timer);
    this.entries.clear();
    this.ready.length = 0;
  }

  /** Queues the entry's write now, or arms its timer for the end of its interval. */
  private due(entry: Entry): void {
    if (entry.writing || entry.timer !== undefined || entry.unwritten === 0) return;
    const wait = entry.lastWriteAt + this.intervalMs - this.options.clock.now();
    if (wait > 0) {
      entry.timer = this.options.clock.setTimeout(() => {
        entry.timer = undefined;
        this.due(entry);
      }, wait);
      entry.timer.unref();
      return;
    }
    entry.writing = true;
    this.ready.push(entry);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < EVENT_WRITES_IN_FLIGHT) {
      const entry = this.ready.shift();
      if (entry === undefined) return;
      this.inFlight += 1;
      void this.write(entry).finally(() => {
        this.inFlight -= 1;
        entry.writing = false;
        if (this.entries.get(refKey(entry.ref)) === entry) this.due(entry);
        this.pump();
      });
    }
  }

  /** One write of the entry's Event: create it, or bump it (create again when it expired). */
  private async write(entry: Entry): Promise<void> {
    const change = entry.latest;
    const changes = entry.unwritten;
    if (change === undefined) return;
    entry.unwritten = 0;
    entry.lastWriteAt = this.options.clock.now();
    const now = new Date(entry.lastWriteAt);
    try {
      if (entry.name !== undefined) {
        try {
          await this.options.api.bump(entry.ref, entry.name, change, entry.count + changes, now);
          entry.count += changes;
          this.written += 1;
          return;
        } catch (err) {
          if (!isAppError(err, 'FUNCTION_UNKNOWN')) throw err;
        }
      }
      entry.name = await this.options.api.create(entry.ref, change, changes, now);
      entry.count = changes;
      this.written += 1;
    } catch (err) {
      this.dropped += changes;
      const reason = isAppError(err, 'QUEUE_FULL') ? 'queue_full' : 'failed';
      this.options.onDropped?.(reason);
      this.options.logger.warn(reason === 'queue_full' ? 'scale event dropped' : 'scale event not recorded', {
        function: refKey(entry.ref), changes, error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Past maxFunctions the least recently changed function is forgotten; its unwritten changes count as dropped (queue full). */
  private evict(): void {
    while (this.entries.size > this.maxFunctions) {
      const oldest = this.entries.values().next().value;
      if (oldest === undefined) return;
      this.entries.delete(refKey(oldest.ref));
      this.options.clock.clearTimeout(oldest.timer);
      if (!oldest.writing && oldest.unwritten > 0) {
        this.dropped += oldest.unwritten;
        this.options.onDropped?.('queue_full');
      }
    }
  }
}
