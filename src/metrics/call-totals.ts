/** Upper bounds of the invocation duration histogram (`gateway_functions_seconds`), seconds. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The duration histogram's upper bounds, seconds, ascending (+Inf last). */
export type Bounds = readonly number[];

/**
 * A function's call counters through this gateway since start: finished calls, those answered
 * 5xx and 504, and the duration histogram's cumulative bucket counts (`le` order of the bounds).
 */
export interface CallTotals {
  readonly calls: number;
  readonly errors5xx: number;
  readonly timeouts504: number;
  readonly buckets: readonly number[];
}

/** One function's running counts; `perBucket[i]` counts calls in bucket i alone (not cumulative). */
export class CallCounts {
  calls = 0;
  errors5xx = 0;
  timeouts504 = 0;
  readonly perBucket: number[];

  constructor(private readonly bounds: Bounds) {
    this.perBucket = new Array<number>(bounds.length).fill(0);
  }

  /** One finished call answered `code` after `seconds`. */
  add(code: number, seconds: number): void {
    this.calls++;
    if (code >= 500 && code < 600) this.errors5xx++;
    if (code === 504) this.timeouts504++;
    let i = 0;
    while (i < this.bounds.length - 1 && seconds > (this.bounds[i] ?? 0)) i++;
    this.perBucket[i] = (this.perBucket[i] ?? 0) + 1;
  }

  /** A copy with cumulative buckets, as Prometheus reports them. */
  snapshot(): CallTotals {
    let sum = 0;
    const buckets = this.perBucket.map((n) => (sum += n));
    return { calls: this.calls, errors5xx: this.errors5xx, timeouts504: this.timeouts504, buckets };
  }
}

/**
 * The gateway's call counts per function (`function_name` label), kept beside the Prometheus
 * series by the same `end` of a call. Readers that want a few functions' totals (the status
 * page's history, its stream, the function list) read them here in O(functions read), not by
 * collecting every series of the registry. Bounded by the functions ever served.
 */
export class CallTotalsTable {
  /** DURATION_BUCKETS then +Inf. */
  readonly bounds: Bounds = [...DURATION_BUCKETS, Number.POSITIVE_INFINITY];
  private readonly byLabel = new Map<string, CallCounts>();

  /** The running counts of `label`, made on first use (the caller keeps it to count calls). */
  entry(label: string): CallCounts {
    let counts = this.byLabel.get(label);
    if (counts === undefined) this.byLabel.set(label, (counts = new CallCounts(this.bounds)));
    return counts;
  }

  /** `label`'s totals now; undefined before its first call. */
  get(label: string): CallTotals | undefined {
    const counts = this.byLabel.get(label);
    return counts === undefined || counts.calls === 0 ? undefined : counts.snapshot();
  }

  /** Calls `label` finished (0 before any). */
  calls(label: string): number {
    return this.byLabel.get(label)?.calls ?? 0;
  }
}
