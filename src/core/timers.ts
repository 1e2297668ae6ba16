import type { Clock, TimerHandle } from './clock.js';

interface Due {
  readonly key: string;
  at: number;
  seq: number;
  run: () => void;
  /** Position in the heap array; -1 once out of it. */
  index: number;
}

/**
 * Keyed due work on one clock: a binary min-heap ordered by due time (then by when it was
 * set), with a single clock timer armed for the earliest entry. Setting a key again moves
 * its entry (O(log n)); cancelling removes it. Nothing is done per second: the clock timer
 * fires only when something is due. A callback that throws is passed to `onError` and does
 * not stop the others.
 */
export class TimerHeap {
  private readonly heap: Due[] = [];
  private readonly byKey = new Map<string, Due>();
  private seq = 0;
  private timer: TimerHandle | undefined;
  /** Due time the clock timer is armed for; +Infinity when none is armed. */
  private armedAt = Number.POSITIVE_INFINITY;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly onError: (err: unknown, key: string) => void = () => undefined,
  ) {}

  /** Entries waiting. */
  get size(): number {
    return this.heap.length;
  }

  /** When `key` is due (clock ms); undefined when it is not set. */
  dueAt(key: string): number | undefined {
    return this.byKey.get(key)?.at;
  }

  /** Runs `run` at clock time `at` (at once on the next turn when `at` has passed); replaces what `key` held. */
  set(key: string, at: number, run: () => void): void {
    if (this.closed) return;
    const entry = this.byKey.get(key);
    if (entry === undefined) {
      const fresh: Due = { key, at, seq: this.seq++, run, index: this.heap.length };
      this.byKey.set(key, fresh);
      this.heap.push(fresh);
      this.up(fresh.index);
    } else {
      const earlier = at < entry.at;
      entry.at = at;
      entry.seq = this.seq++;
      entry.run = run;
      if (earlier) this.up(entry.index);
      else this.down(entry.index);
    }
    this.arm();
  }

  /** Runs `run` at `at` unless `key` is already due at or before it (keeps the earlier). */
  setEarliest(key: string, at: number, run: () => void): void {
    const current = this.byKey.get(key);
    if (current !== undefined && current.at <= at) return;
    this.set(key, at, run);
  }

  /** Forgets `key`; nothing when it is not set. */
  cancel(key: string): void {
    const entry = this.byKey.get(key);
    if (entry === undefined) return;
    this.remove(entry);
    this.arm();
  }

  /** Drops every entry and the clock timer; later `set` calls are ignored. */
  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
    this.byKey.clear();
  }

  private arm(): void {
    const top = this.heap[0];
    const at = top?.at ?? Number.POSITIVE_INFINITY;
    if (at === this.armedAt && this.timer !== undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = at;
    if (top === undefined) return;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    // Taken out first: work a callback sets for now or earlier runs on the next turn, not in this loop.
    const due: Due[] = [];
    for (let top = this.heap[0]; top !== undefined && top.at <= now; top = this.heap[0]) {
      this.remove(top);
      due.push(top);
    }
    for (const entry of due) {
      try {
        entry.run();
      } catch (err) {
        this.onError(err, entry.key);
      }
    }
    if (!this.closed) this.arm();
  }

  private remove(entry: Due): void {
    this.byKey.delete(entry.key);
    const last = this.heap.pop() as Due;
    const { index } = entry;
    entry.index = -1;
    if (last === entry) return;
    this.heap[index] = last;
    last.index = index;
    this.up(index);
    this.down(last.index);
  }

  private less(a: Due, b: Due): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i] as Due;
    const b = this.heap[j] as Due;
    this.heap[i] = b;
    this.heap[j] = a;
    a.index = j;
    b.index = i;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i] as Due, this.heap[parent] as Due)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < this.heap.length && this.less(this.heap[left] as Due, this.heap[least] as Due)) least = left;
      if (right < this.heap.length && this.less(this.heap[right] as Due, this.heap[least] as Due)) least = right;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }
}
