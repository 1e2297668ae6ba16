/** Values kept exactly per series; past it they fold into the histogram. */
export const EXACT_LIMIT = 8192;
/** Histogram buckets per power of two: a bucket's width is 1/256 of its lower edge. */
const SUB_BUCKETS = 256;
/** Octaves from 2^-20 ms (about 1 ns) to 2^40 ms (about 35 years); values outside are clamped to the ends. */
const MIN_EXP = -20;
const MAX_EXP = 40;
/** Most numbers a series ever holds: the exact values, or every histogram bucket plus min, max and zero. */
export const MAX_RETAINED = Math.max(EXACT_LIMIT, (MAX_EXP - MIN_EXP + 1) * SUB_BUCKETS + 3);

/**
 * A series of non-negative numbers (waits, latencies, ms) and its percentiles in bounded
 * memory: the first EXACT_LIMIT values are kept as they are (percentiles exact); past that
 * they fold into a log-linear histogram (zero counted apart; 256 buckets per power of two,
 * octaves allocated when first used), and a percentile is its bucket's midpoint, clamped to
 * the series' min and max: within 0.2 % (1/512) of the exact nearest-rank value.
 */
export class Samples {
  private exact: Float64Array | null = new Float64Array(64);
  private size = 0;
  private zeros = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private readonly octaves: Array<Uint32Array | undefined> = [];

  push(value: number): void {
    this.min = Math.min(this.min, value);
    this.max = Math.max(this.max, value);
    if (this.exact !== null) {
      if (this.size < EXACT_LIMIT) {
        if (this.size === this.exact.length) {
          const bigger = new Float64Array(Math.min(EXACT_LIMIT, this.exact.length * 2));
          bigger.set(this.exact);
          this.exact = bigger;
        }
        this.exact[this.size++] = value;
        return;
      }
      const kept = this.exact;
      this.exact = null;
      for (const v of kept.subarray(0, this.size)) this.count(v);
    }
    this.count(value);
    this.size += 1;
  }

  private count(value: number): void {
    if (!(value > 0)) {
      this.zeros += 1;
      return;
    }
    let e = Math.min(MAX_EXP, Math.max(MIN_EXP, Math.floor(Math.log2(value))));
    if (2 ** e > value && e > MIN_EXP) e -= 1;
    else if (2 ** (e + 1) <= value && e < MAX_EXP) e += 1;
    const sub = Math.min(SUB_BUCKETS - 1, Math.max(0, Math.floor((value / 2 ** e - 1) * SUB_BUCKETS)));
    const o = e - MIN_EXP;
    let octave = this.octaves[o];
    if (octave === undefined) this.octaves[o] = octave = new Uint32Array(SUB_BUCKETS);
    octave[sub] = (octave[sub] ?? 0) + 1;
  }

  get length(): number {
    return this.size;
  }

  /** Numbers held now (exact values, or histogram buckets allocated); never above MAX_RETAINED. */
  get retained(): number {
    if (this.exact !== null) return this.exact.length;
    return this.octaves.reduce((n, o) => n + (o === undefined ? 0 : o.length), 3);
  }

  /** p50, p95 and p99 by nearest rank, rounded to 0.1 ms; null when there is no sample. */
  percentiles(): Percentiles {
    if (this.size === 0) return { p50: null, p95: null, p99: null };
    const rank = (p: number) => Math.max(1, Math.ceil((p / 100) * this.size));
    if (this.exact !== null) {
      const sorted = this.exact.slice(0, this.size).sort();
      const at = (p: number) => round1(sorted[rank(p) - 1] ?? 0);
      return { p50: at(50), p95: at(95), p99: at(99) };
    }
    const at = (p: number) => round1(Math.min(this.max, Math.max(this.min, this.valueAtRank(rank(p)))));
    return { p50: at(50), p95: at(95), p99: at(99) };
  }

  /** The midpoint of the bucket holding the `rank`-th smallest value (1-based). */
  private valueAtRank(rank: number): number {
    let seen = this.zeros;
    if (seen >= rank) return 0;
    for (let o = 0; o < this.octaves.length; o++) {
      const octave = this.octaves[o];
      if (octave === undefined) continue;
      for (let sub = 0; sub < SUB_BUCKETS; sub++) {
        seen += octave[sub] ?? 0;
        if (seen >= rank) return 2 ** (o + MIN_EXP) * (1 + (sub + 0.5) / SUB_BUCKETS);
      }
    }
    return this.max;
  }
}

/** Milliseconds at the 50th, 95th and 99th percentile; null without samples. */
export interface Percentiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** One function's line of the report; the shape of `--format json`. */
export interface FunctionSummary {
  readonly name: string;
  /** Calls in the trace. */
  readonly requests: number;
  /** Calls answered by a replica within the request timeout. */
  readonly served: number;
  /** Calls that waited in the queue for a slot (no replica, or all busy). */
  readonly queued: number;
  /** Calls refused because the queue was full (503). */
  readonly refused: number;
  /** Calls past the queue deadline or the request timeout (504). */
  readonly timedOut: number;
  /** Wakes from zero replicas. */
  readonly coldStarts: number;
  /** Replicas alive (any phase) integrated over the run, seconds. */
  readonly replicaSeconds: number;
  readonly meanReplicas: number;
  readonly peakReplicas: number;
  /** Queue wait of the calls that got a slot. */
  readonly waitMs: Percentiles;
  /** Wait plus service time of the calls served. */
  readonly latencyMs: Percentiles;
}

/** Rounds to one decimal. */
export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Counters of one function during a run. */
export class FunctionCounters {
  requests = 0;
  served = 0;
  queued = 0;
  refused = 0;
  timedOut = 0;
  coldStarts = 0;
  /** Replicas alive now, and since when (clock ms), for the integral. */
  replicas = 0;
  since = 0;
  replicaMs = 0;
  peak = 0;
  readonly waits = new Samples();
  readonly latencies = new Samples();

  /** Integrates the replica count up to `at` (not past `endMs`), then takes the new count. */
  setReplicas(count: number, at: number, endMs: number): void {
    const until = Math.min(at, endMs);
    if (until > this.since) this.replicaMs += this.replicas * (until - this.since);
    this.since = Math.max(this.since, until);
    this.replicas = count;
    if (at <= endMs) this.peak = Math.max(this.peak, count);
  }

  summary(name: string, endMs: number): FunctionSummary {
    this.setReplicas(this.replicas, endMs, endMs);
    return {
      name,
      requests: this.requests,
      served: this.served,
      queued: this.queued,
      refused: this.refused,
      timedOut: this.timedOut,
      coldStarts: this.coldStarts,
      replicaSeconds: round1(this.replicaMs / 1000),
      meanReplicas: endMs > 0 ? Math.round((this.replicaMs / endMs) * 100) / 100 : 0,
      peakReplicas: this.peak,
      waitMs: this.waits.percentiles(),
      latencyMs: this.latencies.percentiles(),
    };
  }
}
