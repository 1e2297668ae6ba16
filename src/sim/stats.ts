/** A growable list of numbers (waits, latencies), kept as a typed array. */
export class Samples {
  private data = new Float64Array(1024);
  private size = 0;

  push(value: number): void {
    if (this.size === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.size++] = value;
  }

  get length(): number {
    return this.size;
  }

  /** p50, p95 and p99 by nearest rank, rounded to 0.1 ms; null when there is no sample. */
  percentiles(): Percentiles {
    if (this.size === 0) return { p50: null, p95: null, p99: null };
    const sorted = this.data.slice(0, this.size).sort();
    const at = (p: number) => round1(sorted[Math.max(0, Math.ceil((p / 100) * this.size) - 1)] ?? 0);
    return { p50: at(50), p95: at(95), p99: at(99) };
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
