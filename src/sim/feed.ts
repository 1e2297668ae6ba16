import type { VirtualClock } from '../core/clock.js';
import type { Arrival, Trace } from './trace.js';

/**
 * Reads the trace one batch at a time onto the clock: each arrival becomes a timer, and the
 * next batch is read when the clock reaches the last arrival of this one.
 */
export class TraceFeed {
  /** True when the next batch is to be read before the clock moves. */
  needRefill = true;
  /** True once the trace has no more arrivals. */
  done = false;
  private doneAtMs = 0;
  private batches: AsyncGenerator<Arrival[], number> | undefined;

  constructor(
    private readonly trace: Trace,
    private readonly durationMs: number | null,
    private readonly clock: VirtualClock,
  ) {}

  /** The end of the run, ms: the duration asked for, else the trace's own end; infinite while it is unknown. */
  readonly endMs = (): number => this.durationMs ?? this.trace.knownEndMs ?? (this.done ? this.doneAtMs : Number.POSITIVE_INFINITY);

  /** Reads the next batch and puts `arrive` of each of its arrivals on the clock; marks the feed done at the trace's end. */
  async refill(arrive: (a: Arrival) => void): Promise<void> {
    this.batches ??= this.trace.batches(this.durationMs);
    const next = await this.batches.next();
    if (next.done === true) {
      this.done = true;
      this.doneAtMs = next.value;
      return;
    }
    const { clock } = this;
    const batch = next.value;
    for (const a of batch) clock.setTimeout(() => arrive(a), a.timeMs - clock.now());
    const last = batch[batch.length - 1];
    if (last === undefined) this.needRefill = true;
    else clock.setTimeout(() => (this.needRefill = true), last.timeMs - clock.now());
  }
}
