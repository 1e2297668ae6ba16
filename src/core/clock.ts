/** A timer handle from a Clock; pass it back to `clearTimeout`. */
export interface TimerHandle {
  /** Lets the process exit while this timer is pending (no-op on the virtual clock). */
  unref(): void;
}

/**
 * The one source of time for the engine: every time read and timer goes through it, so a
 * virtual clock can drive unit tests and the simulator. Times are epoch milliseconds.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** Node's longest timer, ms (about 24.8 days); a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The real clock: `Date.now()` and the global timers; `unref()` lets the process exit. A
 * delay above MAX_TIMER_MS fires at MAX_TIMER_MS (never at once, as Node would do).
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, Math.min(MAX_TIMER_MS, Math.max(0, delayMs))),
  clearTimeout: (handle) => {
    if (handle !== undefined) clearTimeout(handle as NodeJS.Timeout);
  },
};

interface VirtualTimer extends TimerHandle {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
  /** Still in the heap (not yet run or dropped). */
  queued: boolean;
}

/** Cleared timers the heap may hold before it is compacted (when they are also half of it). */
const COMPACT_AFTER = 1024;

function before(a: VirtualTimer, b: VirtualTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/**
 * A clock that moves only when told: timers sit in a heap ordered by due time, then by
 * insertion. Drives unit tests and the simulator; nothing here waits for real time.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: VirtualTimer[] = [];
  /** Cleared timers still in the heap: compacted away once they are half of it, so a timer set and cleared per call (a request timeout) costs no memory until its due time. */
  private cleared = 0;

  /** @param startMs the initial time, epoch milliseconds (0 by default). */
  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: VirtualTimer = { due: this.current + Math.max(0, delayMs), seq: this.seq++, callback, cancelled: false, queued: true, unref: () => undefined };
    this.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined || !('cancelled' in handle)) return;
    const timer = handle as VirtualTimer;
    if (timer.cancelled) return;
    timer.cancelled = true;
    if (!timer.queued) return;
    this.cleared += 1;
    if (this.cleared > COMPACT_AFTER && this.cleared * 2 > this.heap.length) this.compact();
  }

  /** Drops every cleared timer from the heap; the rest, sorted, is a valid heap again. */
  private compact(): void {
    const live = this.heap.filter((t) => {
      if (t.cancelled) t.queued = false;
      return !t.cancelled;
    });
    live.sort((a, b) => (before(a, b) ? -1 : 1));
    this.heap.length = 0;
    for (const t of live) this.heap.push(t);
    this.cleared = 0;
  }

  /** Timers the heap holds, cleared ones included (for tests of its bound). */
  get heldTimers(): number {
    return this.heap.length;
  }

  /** Timers scheduled and not yet run or cleared. */
  pending(): number {
    return this.heap.filter((t) => !t.cancelled).length;
  }

  /**
   * Due time of the earliest pending timer, epoch ms; null when none is pending. Lets a
   * driver (the simulator) jump straight to the next event instead of stepping. Drops
   * cleared timers it finds at the top of the heap.
   */
  nextDue(): number | null {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return null;
      if (!top.cancelled) return top.due;
      this.pop();
    }
  }

  /**
   * Moves time forward by `ms`, running every timer due on the way in order (timers they
   * schedule within the span run too). Synchronous: promise callbacks run after it returns.
   */
  advance(ms: number): void {
    const end = this.current + Math.max(0, ms);
    for (let timer = this.popDue(end); timer !== undefined; timer = this.popDue(end)) {
      this.current = timer.due;
      timer.callback();
    }
    this.current = end;
  }

  /**
   * Like `advance`, but lets promise callbacks settle before and after each timer, so code
   * that awaits between timers (a provider call, then a clock wait) sees each step in order.
   */
  async run(ms: number): Promise<void> {
    const end = this.current + Math.max(0, ms);
    await flush();
    for (let timer = this.popDue(end); timer !== undefined; timer = this.popDue(end)) {
      this.current = timer.due;
      timer.callback();
      await flush();
    }
    this.current = end;
    await flush();
  }

  private popDue(end: number): VirtualTimer | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.due > end) return undefined;
      this.pop();
      if (!top.cancelled) return top;
    }
  }

  private push(timer: VirtualTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as VirtualTimer;
      if (!before(timer, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = timer;
  }

  private pop(): void {
    const heap = this.heap;
    const top = heap[0];
    if (top !== undefined) {
      top.queued = false;
      if (top.cancelled) this.cleared -= 1;
    }
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const r = heap[right];
      const l = heap[left] as VirtualTimer;
      const child = r !== undefined && before(r, l) ? right : left;
      const c = heap[child] as VirtualTimer;
      if (!before(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}

/** Lets queued promise callbacks (and their follow-ups) run; not a sleep: no time passes. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
