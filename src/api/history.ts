import type { Bounds, CallTotals } from '../metrics/call-totals.js';

export type { Bounds, CallTotals } from '../metrics/call-totals.js';

/** Time between two history points, ms. */
export const HISTORY_STEP_MS = 5_000;
/** Points kept per function: 15 minutes at HISTORY_STEP_MS. */
export const HISTORY_POINTS = 180;
/** Functions with a history at most; a function past it has none (the others keep theirs). */
export const HISTORY_MAX_FUNCTIONS = 500;
/** Steps the p95 latency is measured over: the last minute at HISTORY_STEP_MS. */
export const LATENCY_STEPS = 12;

/** One point of a function's history: `[epoch ms, desired, ready, queued, calls/s]`. */
export type HistoryPoint = readonly [time: number, desired: number, ready: number, queued: number, rate: number];

/** A function's live counts at one step. */
export interface HistorySample {
  readonly desired: number;
  readonly ready: number;
  readonly queued: number;
}

/**
 * The `q` quantile of the calls between two cumulative bucket snapshots, in seconds, the way
 * Prometheus's histogram_quantile interpolates inside a bucket; null when no call fell in
 * between. A quantile in the +Inf bucket answers the highest finite bound. Pure.
 */
export function bucketQuantile(bounds: Bounds, before: readonly number[], after: readonly number[], q: number): number | null {
  const counts = bounds.map((_, i) => Math.max(0, (after[i] ?? 0) - (before[i] ?? 0)));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    const count = counts[i] ?? 0;
    if (count < rank) continue;
    const upper = bounds[i] ?? 0;
    const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
    if (!Number.isFinite(upper)) return Number.isFinite(lower) ? lower : null;
    const below = i === 0 ? 0 : (counts[i - 1] ?? 0);
    const inBucket = count - below;
    return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return null;
}

interface Series {
  /** Points, oldest first: one when the function's counts changed (a point holds until the next). */
  readonly points: HistoryPoint[];
  /** Calls counted and the time at the last step (the rate is the difference over the step). */
  lastCalls: number | null;
  lastStepAt: number | null;
  /** Cumulative bucket counts when the calls last changed: [time, buckets], oldest first. */
  readonly latency: Array<readonly [number, readonly number[]]>;
}

/** Sizes of a FunctionHistory; the defaults above when absent. */
export interface HistoryOptions {
  readonly points?: number;
  readonly maxFunctions?: number;
  /** The window the points cover, ms; HISTORY_POINTS × HISTORY_STEP_MS when absent. */
  readonly windowMs?: number;
  /** The window the p95 covers, ms; LATENCY_STEPS × HISTORY_STEP_MS when absent. */
  readonly latencyWindowMs?: number;
}

const same = (a: HistoryPoint | undefined, b: HistoryPoint): boolean => a !== undefined && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4];

/**
 * A short history per function, in memory and bounded: a point (replicas desired and ready,
 * queue, calls per second) only when one of them changed, so an idle function costs one point
 * and nothing per step; at most `points` points each, within `windowMs` (the newest older one
 * kept as the window's start value), for at most `maxFunctions` functions; and the duration
 * buckets at each change of the call count over the last `latencyWindowMs` for a p95. Full
 * (every step a change): 500 functions × 180 points, 10.4 MB measured; 500 idle ones 357 KB. Keyed by `function_name`
 * label. Pure data: the caller brings the time and the samples.
 */
export class FunctionHistory {
  private readonly series = new Map<string, Series>();
  private readonly points: number;
  private readonly maxFunctions: number;
  private readonly windowMs: number;
  private readonly latencyWindowMs: number;

  constructor(options: HistoryOptions = {}) {
    this.points = options.points ?? HISTORY_POINTS;
    this.maxFunctions = options.maxFunctions ?? HISTORY_MAX_FUNCTIONS;
    this.windowMs = options.windowMs ?? HISTORY_POINTS * HISTORY_STEP_MS;
    this.latencyWindowMs = options.latencyWindowMs ?? LATENCY_STEPS * HISTORY_STEP_MS;
  }

  /** Functions with a history at most. */
  get capacity(): number {
    return this.maxFunctions;
  }

  /** Functions with a history. */
  get size(): number {
    return this.series.size;
  }

  /** Whether a point for `label` would be kept: it has a history, or there is room for one more function. */
  accepts(label: string): boolean {
    return this.series.has(label) || this.series.size < this.maxFunctions;
  }

  /**
   * One step for `label`: a point when its counts or its rate changed since its last point
   * (true then); a new function past `maxFunctions` is not recorded.
   */
  record(label: string, now: number, sample: HistorySample, totals: CallTotals | undefined): boolean {
    let s = this.series.get(label);
    if (s === undefined) {
      if (this.series.size >= this.maxFunctions) return false;
      s = { points: [], lastCalls: null, lastStepAt: null, latency: [] };
      this.series.set(label, s);
    }
    const calls = totals?.calls ?? 0;
    const dt = s.lastStepAt === null ? 0 : now - s.lastStepAt;
    const rate = s.lastCalls === null || dt <= 0 ? 0 : Math.max(0, Math.round(((calls - s.lastCalls) * 100_000) / dt) / 100);
    const callsChanged = s.lastCalls !== calls;
    s.lastCalls = calls;
    s.lastStepAt = now;
    if (callsChanged || s.latency.length === 0) s.latency.push([now, [...(totals?.buckets ?? [])]]);
    // The newest snapshot at least a window old is the p95's base; older ones go.
    while (s.latency.length > 1 && (s.latency[1]?.[0] ?? now) <= now - this.latencyWindowMs) s.latency.shift();
    const point: HistoryPoint = [now, sample.desired, sample.ready, sample.queued, rate];
    const changed = !same(s.points[s.points.length - 1], point);
    if (changed) s.points.push(point);
    while (s.points.length > this.points || (s.points.length > 1 && (s.points[1]?.[0] ?? now) <= now - this.windowMs)) s.points.shift();
    return changed;
  }

  /** The points of `label`, oldest first (each holds until the next; the last until now); empty when it has none. */
  pointsOf(label: string): HistoryPoint[] {
    return [...(this.series.get(label)?.points ?? [])];
  }

  /** The newest point of `label`; undefined when it has none. */
  latest(label: string): HistoryPoint | undefined {
    const points = this.series.get(label)?.points;
    return points?.[points.length - 1];
  }

  /** The p95 duration of the calls finished within the last `latencyWindowMs` before `now`, ms (rounded); null when none. */
  p95Ms(label: string, bounds: Bounds, now: number): number | null {
    const latency = this.series.get(label)?.latency;
    const first = latency?.[0];
    const last = latency?.[latency.length - 1];
    if (first === undefined || last === undefined || latency === undefined || latency.length < 2 || last[0] <= now - this.latencyWindowMs) return null;
    const q = bucketQuantile(bounds, first[1], last[1], 0.95);
    return q === null ? null : Math.round(q * 1000);
  }

  /** Drops every function not in `labels` (gone from the provider). */
  keepOnly(labels: ReadonlySet<string>): void {
    for (const label of this.series.keys()) if (!labels.has(label)) this.series.delete(label);
  }

  /** Drops one function's history. */
  forget(label: string): void {
    this.series.delete(label);
  }
}
