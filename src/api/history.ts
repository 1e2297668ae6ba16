import type { Metrics } from '../metrics/registry.js';

/** Time between two history points, ms. */
export const HISTORY_STEP_MS = 5_000;
/** Points kept per function: 15 minutes at HISTORY_STEP_MS. */
export const HISTORY_POINTS = 180;
/** Functions with a history at most; a function past it has none (the others keep theirs). */
export const HISTORY_MAX_FUNCTIONS = 500;
/** Steps the p95 latency is measured over: the last minute at HISTORY_STEP_MS. */
export const LATENCY_STEPS = 12;

/** Numbers per point: time (epoch ms), desired, ready, queued, calls per second. */
const FIELDS = 5;

/** One point of a function's history: `[epoch ms, desired, ready, queued, calls/s]`. */
export type HistoryPoint = readonly [time: number, desired: number, ready: number, queued: number, rate: number];

/** A function's live counts at one step. */
export interface HistorySample {
  readonly desired: number;
  readonly ready: number;
  readonly queued: number;
}

/**
 * A function's call counters through this gateway since start: finished calls, those answered
 * 5xx and 504, and the duration histogram's cumulative bucket counts (`le` order of `bounds`).
 */
export interface CallTotals {
  readonly calls: number;
  readonly errors5xx: number;
  readonly timeouts504: number;
  readonly buckets: readonly number[];
}

/** The duration histogram's upper bounds, seconds, ascending (+Inf last). */
export type Bounds = readonly number[];

/** Call totals by `function_name`, read from the gateway's own metrics (no scrape). */
export async function readCallTotals(metrics: Pick<Metrics, 'invocationTotal' | 'invocationSeconds'>): Promise<{ bounds: Bounds; totals: Map<string, CallTotals> }> {
  const byName = new Map<string, { calls: number; errors5xx: number; timeouts504: number; buckets: Map<number, number> }>();
  const entry = (name: string) => {
    let e = byName.get(name);
    if (e === undefined) byName.set(name, (e = { calls: 0, errors5xx: 0, timeouts504: 0, buckets: new Map() }));
    return e;
  };
  for (const v of (await metrics.invocationTotal.get()).values) {
    const e = entry(String(v.labels['function_name']));
    const code = String(v.labels['code']);
    e.calls += v.value;
    if (code.startsWith('5')) e.errors5xx += v.value;
    if (code === '504') e.timeouts504 += v.value;
  }
  const bounds = new Set<number>();
  for (const v of (await metrics.invocationSeconds.get()).values) {
    if (v.metricName?.endsWith('_bucket') !== true) continue;
    const text = String((v.labels as Readonly<Record<string, string | number | undefined>>)['le']);
    const le = text === '+Inf' ? Number.POSITIVE_INFINITY : Number(text);
    bounds.add(le);
    const b = entry(String(v.labels['function_name'])).buckets;
    b.set(le, (b.get(le) ?? 0) + v.value);
  }
  const sorted = [...bounds].sort((a, b) => a - b);
  const totals = new Map<string, CallTotals>();
  for (const [name, e] of byName) totals.set(name, { calls: e.calls, errors5xx: e.errors5xx, timeouts504: e.timeouts504, buckets: sorted.map((le) => e.buckets.get(le) ?? 0) });
  return { bounds: sorted, totals };
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
  /** Ring of HISTORY_POINTS points, FIELDS numbers each; `next` is where the next one goes. */
  readonly ring: Float64Array;
  next: number;
  count: number;
  /** Calls counted at the last point (its rate is the difference over the step). */
  lastCalls: number | null;
  /** Cumulative bucket counts at the last LATENCY_STEPS + 1 points, oldest first. */
  readonly latency: number[][];
}

/** Sizes of a FunctionHistory; the defaults above when absent. */
export interface HistoryOptions {
  readonly points?: number;
  readonly maxFunctions?: number;
  readonly latencySteps?: number;
}

/**
 * A short history per function, in memory and bounded: `points` points (replicas desired and
 * ready, queue, calls per second) each, for at most `maxFunctions` functions, and the duration
 * buckets of the last `latencySteps` steps for a p95. With the defaults: 500 functions × 180
 * points × 5 float64 = 3.6 MB of rings, plus 13 × 13 bucket counts each: 4.9 MB measured full.
 * Keyed by `function_name` label. Pure data: the caller brings the time and the samples.
 */
export class FunctionHistory {
  private readonly series = new Map<string, Series>();
  private readonly points: number;
  private readonly maxFunctions: number;
  private readonly latencySteps: number;

  constructor(options: HistoryOptions = {}) {
    this.points = options.points ?? HISTORY_POINTS;
    this.maxFunctions = options.maxFunctions ?? HISTORY_MAX_FUNCTIONS;
    this.latencySteps = options.latencySteps ?? LATENCY_STEPS;
  }

  /** Functions with a history. */
  get size(): number {
    return this.series.size;
  }

  /** Whether a point for `label` would be kept: it has a history, or there is room for one more function. */
  accepts(label: string): boolean {
    return this.series.has(label) || this.series.size < this.maxFunctions;
  }

  /** Appends one point for `label` (the oldest goes past `points`); a new function past `maxFunctions` is not recorded. */
  record(label: string, now: number, sample: HistorySample, totals: CallTotals | undefined): void {
    let s = this.series.get(label);
    if (s === undefined) {
      if (this.series.size >= this.maxFunctions) return;
      s = { ring: new Float64Array(this.points * FIELDS), next: 0, count: 0, lastCalls: null, latency: [] };
      this.series.set(label, s);
    }
    const calls = totals?.calls ?? 0;
    const previous = this.latest(label);
    const dt = previous === undefined ? 0 : now - previous[0];
    const rate = s.lastCalls === null || dt <= 0 ? 0 : Math.round(((calls - s.lastCalls) * 100_000) / dt) / 100;
    s.lastCalls = calls;
    s.ring.set([now, sample.desired, sample.ready, sample.queued, Math.max(0, rate)], s.next * FIELDS);
    s.next = (s.next + 1) % this.points;
    s.count = Math.min(this.points, s.count + 1);
    s.latency.push([...(totals?.buckets ?? [])]);
    while (s.latency.length > this.latencySteps + 1) s.latency.shift();
  }

  /** The points of `label`, oldest first; empty when it has none. */
  pointsOf(label: string): HistoryPoint[] {
    const s = this.series.get(label);
    if (s === undefined) return [];
    const out: HistoryPoint[] = [];
    for (let i = 0; i < s.count; i++) {
      const at = ((s.next - s.count + i + this.points) % this.points) * FIELDS;
      const r = s.ring;
      out.push([r[at] ?? 0, r[at + 1] ?? 0, r[at + 2] ?? 0, r[at + 3] ?? 0, r[at + 4] ?? 0]);
    }
    return out;
  }

  /** The newest point of `label`; undefined when it has none. */
  latest(label: string): HistoryPoint | undefined {
    const s = this.series.get(label);
    if (s === undefined || s.count === 0) return undefined;
    const at = ((s.next - 1 + this.points) % this.points) * FIELDS;
    const r = s.ring;
    return [r[at] ?? 0, r[at + 1] ?? 0, r[at + 2] ?? 0, r[at + 3] ?? 0, r[at + 4] ?? 0];
  }

  /** The p95 duration of the calls finished over the last `latencySteps` steps, ms (rounded); null when none. */
  p95Ms(label: string, bounds: Bounds): number | null {
    const latency = this.series.get(label)?.latency;
    if (latency === undefined || latency.length < 2) return null;
    const q = bucketQuantile(bounds, latency[0] ?? [], latency[latency.length - 1] ?? [], 0.95);
    return q === null ? null : Math.round(q * 1000);
  }

  /** Drops every function not in `labels` (gone from the provider). */
  keepOnly(labels: ReadonlySet<string>): void {
    for (const label of this.series.keys()) if (!labels.has(label)) this.series.delete(label);
  }
}
