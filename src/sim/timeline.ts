import type { Clock } from '../core/clock.js';

/** One point of the chart: the state at `t` (ms) and the load over the bucket before it. */
export interface TimelinePoint {
  readonly t: number;
  /** Calls per second that arrived in the bucket ending at `t`. */
  readonly load: number;
  readonly starting: number;
  readonly ready: number;
  readonly draining: number;
  readonly stopping: number;
  /** Calls waiting for a slot. */
  readonly queued: number;
}

/** The state the sampler reads at each point (everything but the load). */
export type TimelineState = Omit<TimelinePoint, 't' | 'load'>;

/** Points kept at most; past it neighbours merge and the bucket doubles. */
const MAX_POINTS = 400;

/**
 * Samples the run at a bucket that starts at 1 s and doubles whenever the points reach
 * MAX_POINTS (pairs merge: the load averaged, the counts at their larger value), so a run
 * of any length gives a few hundred points without knowing its length in advance.
 */
export class Timeline {
  private points: TimelinePoint[] = [];
  private bucketMs = 1000;
  private arrivals = 0;

  constructor(
    private readonly clock: Clock,
    private readonly read: () => TimelineState,
    private readonly endMs: () => number,
  ) {}

  start(): void {
    this.points.push({ t: this.clock.now(), load: 0, ...this.read() });
    this.schedule();
  }

  /** Counts one arrival into the current bucket. */
  arrival(): void {
    this.arrivals += 1;
  }

  /** The points, oldest first. */
  result(): readonly TimelinePoint[] {
    return this.points;
  }

  private schedule(): void {
    const now = this.clock.now();
    const next = Math.min(now + this.bucketMs, this.endMs());
    if (next <= now) return;
    this.clock.setTimeout(() => this.sample(next - now), next - now);
  }

  private sample(spanMs: number): void {
    this.points.push({ t: this.clock.now(), load: this.arrivals / (spanMs / 1000), ...this.read() });
    this.arrivals = 0;
    if (this.points.length >= MAX_POINTS) this.merge();
    this.schedule();
  }

  private merge(): void {
    const [first, ...rest] = this.points;
    if (first === undefined) return;
    const merged: TimelinePoint[] = [first];
    for (let i = 0; i < rest.length; i += 2) {
      const a = rest[i] as TimelinePoint;
      const b = rest[i + 1];
      if (b === undefined) {
        merged.push(a);
        continue;
      }
      merged.push({
        t: b.t,
        load: (a.load + b.load) / 2,
        starting: Math.max(a.starting, b.starting),
        ready: Math.max(a.ready, b.ready),
        draining: Math.max(a.draining, b.draining),
        stopping: Math.max(a.stopping, b.stopping),
        queued: Math.max(a.queued, b.queued),
      });
    }
    this.points = merged;
    this.bucketMs *= 2;
  }
}
