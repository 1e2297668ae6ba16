/** One function's ready calls (ids, oldest first from `head`) and its deliveries in flight. */
interface FnReady {
  ids: string[];
  head: number;
  inFlight: number;
}

/**
 * The calls ready for delivery, per function, handed out in turn across the functions (oldest
 * first within one), with at most `limitOf(fn)` of one function in flight at once: a deep
 * backlog of one function cannot take the whole delivery pool while others wait. Every step
 * is O(1) (amortized): the functions that can take one more form a ring, each in it once.
 */
export class FairReady {
  private readonly byFn = new Map<string, FnReady>();
  /** Functions with a ready call and room under their limit (some may have lost it since: checked on take). */
  private ring: string[] = [];
  private ringHead = 0;
  private readonly inRing = new Set<string>();
  private size = 0;

  /** `limitOf(fn)`: most deliveries of `fn` in flight at once (Infinity: no limit). */
  constructor(public limitOf: (fn: string) => number = () => Number.POSITIVE_INFINITY) {}

  /** Calls ready and not handed out. */
  get ready(): number {
    return this.size;
  }

  /** A call of `fn` is ready (stored, or back from a backoff). */
  push(fn: string, id: string): void {
    const q = this.entry(fn);
    q.ids.push(id);
    this.size += 1;
    this.enlist(fn, q);
  }

  /** The next call to hand out, counted in flight for its function; undefined when every function with ready calls is at its limit. */
  take(): { readonly fn: string; readonly id: string } | undefined {
    while (this.ringHead < this.ring.length) {
      const fn = this.ring[this.ringHead++] as string;
      this.inRing.delete(fn);
      this.compactRing();
      const q = this.byFn.get(fn);
      if (q === undefined || q.head >= q.ids.length || q.inFlight >= this.limitOf(fn)) continue;
      const id = q.ids[q.head++] as string;
      if (q.head > 1024 && q.head * 2 > q.ids.length) {
        q.ids = q.ids.slice(q.head);
        q.head = 0;
      }
      q.inFlight += 1;
      this.size -= 1;
      this.enlist(fn, q);
      return { fn, id };
    }
    return undefined;
  }

  /** A delivery of `fn` that `take` handed out is over (settled, or not handed after all). */
  settled(fn: string): void {
    const q = this.byFn.get(fn);
    if (q === undefined) return;
    q.inFlight = Math.max(0, q.inFlight - 1);
    if (q.inFlight === 0 && q.head >= q.ids.length) {
      this.byFn.delete(fn);
      return;
    }
    this.enlist(fn, q);
  }

  private entry(fn: string): FnReady {
    let q = this.byFn.get(fn);
    if (q === undefined) {
      q = { ids: [], head: 0, inFlight: 0 };
      this.byFn.set(fn, q);
    }
    return q;
  }

  /** Puts `fn` in the ring when it has a ready call and room, unless it is there. */
  private enlist(fn: string, q: FnReady): void {
    if (this.inRing.has(fn) || q.head >= q.ids.length || q.inFlight >= this.limitOf(fn)) return;
    this.inRing.add(fn);
    this.ring.push(fn);
  }

  private compactRing(): void {
    if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead);
      this.ringHead = 0;
    }
  }
}
