import type { Arrival, Trace } from './trace.js';

/**
 * Reads the trace one batch at a time; the run loop takes the arrivals from it in order
 * (they are not clock timers: the clock's heap holds only the engine's timers and the calls
 * in service).
 */
export class TraceFeed {
  /** True once the trace has no more arrivals. */
  done = false;
  private doneAtMs = 0;
  private batches: AsyncGenerator<Arrival[], number> | undefined;
  private batch: readonly Arrival[] = [];
  private next = 0;

  constructor(
    private readonly trace: Trace,
    private readonly durationMs: number | null,
  ) {}

  /** The end of the run, ms: the duration asked for, else the trace's own end; infinite while it is unknown. */
  readonly endMs = (): number => this.durationMs ?? this.trace.knownEndMs ?? (this.done ? this.doneAtMs : Number.POSITIVE_INFINITY);

  /** True when this batch is used up and the trace has more: read the next one before the clock moves. */
  get needRefill(): boolean {
    return this.next >= this.batch.length && !this.done;
  }

  /** The next arrival, not taken; undefined when this batch is used up. */
  peek(): Arrival | undefined {
    return this.batch[this.next];
  }

  /** Takes the arrival `peek` returned. */
  take(): void {
    this.next += 1;
  }

  /** Reads the next batch; marks the feed done at the trace's end. */
  async refill(): Promise<void> {
    this.batches ??= this.trace.batches(this.durationMs);
    const read = await this.batches.next();
    if (read.done === true) {
      this.done = true;
      this.doneAtMs = read.value;
      return;
    }
    this.batch = read.value;
    this.next = 0;
  }
}
