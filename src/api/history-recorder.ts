import type { Dispatcher } from '../engine/dispatcher.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { functionLabel, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { FunctionHistory, HISTORY_STEP_MS, type Bounds, type HistoryPoint } from './history.js';

/** What the recorder reads: the function list once, then the provider's notifications, the queues, the call counters. */
export interface HistoryRecorderOptions {
  readonly provider: Pick<ReplicaProvider, 'listFunctions' | 'subscribe'>;
  readonly dispatcher: Pick<Dispatcher, 'stats'>;
  readonly metrics: Pick<Metrics, 'callTotals'>;
  readonly defaultNamespace: string;
  readonly logger: Logger;
  /** Where the points go; a FunctionHistory with the default bounds when absent. */
  readonly history?: FunctionHistory;
  /** HISTORY_STEP_MS when absent. */
  readonly stepMs?: number;
}

/** Told of every point recorded: the function and its new point. */
export type PointListener = (ref: FunctionRef, point: HistoryPoint) => void;

interface Followed {
  readonly ref: FunctionRef;
  desired: number;
  ready: number;
}

/**
 * Samples the functions every `stepMs` into a FunctionHistory (the status page's last 15
 * minutes), whether anyone watches or not, and keeps the latest call totals (5xx, 504, the
 * duration buckets). It reads the function list once at `start` and follows the provider's
 * notifications after that: no provider read per step, and only the functions the history has
 * room for are followed (a fleet past HISTORY_MAX_FUNCTIONS costs nothing more). A step reads
 * each followed function's call totals (from the gateway's table, not a registry collect) and
 * queue: its cost grows with the followed functions, not with the fleet. Its timer is unref'd;
 * `stop()` ends it (shutdown).
 */
export class HistoryRecorder {
  readonly history: FunctionHistory;
  readonly stepMs: number;
  private readonly log: Logger;
  private readonly listeners = new Set<PointListener>();
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private sampling = false;

  constructor(private readonly options: HistoryRecorderOptions) {
    this.history = options.history ?? new FunctionHistory();
    this.stepMs = options.stepMs ?? HISTORY_STEP_MS;
    this.log = options.logger.child({ component: 'history' });
  }

  /** Reads the functions once, follows the provider's notifications, takes a sample now and one every `stepMs`. Never rejects. */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.sample(), this.stepMs);
    this.timer.unref();
    this.unsubscribe = this.options.provider.subscribe((ref, state) => this.follow(ref, state.desired, state.ready));
    try {
      for (const info of await this.options.provider.listFunctions()) this.follow(info.ref, info.desired, info.ready);
    } catch (err) {
      this.log.warn('history list failed', { error: err instanceof Error ? err.message : String(err) });
    }
    await this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.listeners.clear();
  }

  /** Adds a listener of new points; returns its removal. */
  onPoint(listener: PointListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The function's label as the metrics and the history key it. */
  labelOf(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }

  /** A function gone (the stream's list no longer has it): its history goes. */
  forget(ref: FunctionRef): void {
    const label = this.labelOf(ref);
    this.followed.delete(label);
    this.history.forget(label);
  }

  private follow(ref: FunctionRef, desired: number, ready: number): void {
    const label = this.labelOf(ref);
    const known = this.followed.get(label);
    if (known !== undefined) {
      known.desired = desired;
      known.ready = ready;
    } else if (this.followed.size < this.history.capacity) {
      this.followed.set(label, { ref, desired, ready });
    }
  }

  /** One step: each followed function's counts, a point where they changed. Never rejects. */
  async sample(now = Date.now()): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const table = this.options.metrics.callTotals;
      for (const [label, f] of this.followed) {
        const { queued } = this.options.dispatcher.stats(f.ref);
        if (!this.history.record(label, now, { desired: f.desired, ready: f.ready, queued: queued.no_replica + queued.busy }, table.get(label))) continue;
        const point = this.history.latest(label);
        if (point !== undefined) for (const listener of this.listeners) listener(f.ref, point);
      }
    } catch (err) {
      this.log.warn('history sample failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.sampling = false;
    }
  }

  /** The p95 call duration of `ref` over the last minute, ms; null without calls. */
  p95Ms(ref: FunctionRef): number | null {
    return this.history.p95Ms(this.labelOf(ref), this.bounds, Date.now());
  }

  /** The duration histogram's upper bounds, seconds (+Inf last). */
  get bounds(): Bounds {
    return this.options.metrics.callTotals.bounds;
  }
}
