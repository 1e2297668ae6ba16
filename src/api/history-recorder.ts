import type { Dispatcher } from '../engine/dispatcher.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { functionLabel, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { FunctionHistory, HISTORY_STEP_MS, readCallTotals, type Bounds, type CallTotals, type HistoryPoint } from './history.js';

/** What the recorder reads: the function list, the queues, the call counters. */
export interface HistoryRecorderOptions {
  readonly provider: Pick<ReplicaProvider, 'listFunctions'>;
  readonly dispatcher: Pick<Dispatcher, 'stats'>;
  readonly metrics: Pick<Metrics, 'invocationTotal' | 'invocationSeconds'>;
  readonly defaultNamespace: string;
  readonly logger: Logger;
  /** Where the points go; a FunctionHistory with the default bounds when absent. */
  readonly history?: FunctionHistory;
  /** HISTORY_STEP_MS when absent. */
  readonly stepMs?: number;
}

/** Told of every point recorded: the function and its new point. */
export type PointListener = (ref: FunctionRef, point: HistoryPoint) => void;

/**
 * Samples every function every `stepMs` into a FunctionHistory (the status page's last 15
 * minutes), whether anyone watches or not, and keeps the latest call totals (5xx, 504, the
 * duration buckets). One sample at a time: a slow provider list skips a step, never piles up.
 * Its timer is unref'd; `stop()` ends it (shutdown).
 */
export class HistoryRecorder {
  readonly history: FunctionHistory;
  readonly stepMs: number;
  /** The duration histogram's bounds at the last sample (empty before the first call). */
  bounds: Bounds = [];
  /** Call totals by `function_name` at the last sample. */
  totals = new Map<string, CallTotals>();
  private readonly log: Logger;
  private readonly listeners = new Set<PointListener>();
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(private readonly options: HistoryRecorderOptions) {
    this.history = options.history ?? new FunctionHistory();
    this.stepMs = options.stepMs ?? HISTORY_STEP_MS;
    this.log = options.logger.child({ component: 'history' });
  }

  /** Takes a sample now, then one every `stepMs`. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.sample(), this.stepMs);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
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

  /** One step: every function's counts appended; functions gone are forgotten. Never rejects. */
  async sample(now = Date.now()): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const functions = await this.options.provider.listFunctions();
      const { bounds, totals } = await readCallTotals(this.options.metrics);
      this.bounds = bounds;
      this.totals = totals;
      // Functions gone make room first.
      this.history.keepOnly(new Set(functions.map((info) => this.labelOf(info.ref))));
      for (const info of functions) {
        const label = this.labelOf(info.ref);
        // Past the cap nothing is read for it (no queue copy per function of a large fleet).
        if (!this.history.accepts(label)) continue;
        const { queued } = this.options.dispatcher.stats(info.ref);
        this.history.record(label, now, { desired: info.desired, ready: info.ready, queued: queued.no_replica + queued.busy }, totals.get(label));
        const point = this.history.latest(label);
        if (point !== undefined && point[0] === now) for (const listener of this.listeners) listener(info.ref, point);
      }
    } catch (err) {
      this.log.warn('history sample failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.sampling = false;
    }
  }

  /** The p95 call duration of `ref` over the last minute, ms; null without calls. */
  p95Ms(ref: FunctionRef): number | null {
    return this.history.p95Ms(this.labelOf(ref), this.bounds);
  }
}
