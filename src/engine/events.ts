import { LIFECYCLE_ACTIONS, type EngineEvent, type EventSink, type EventSinks } from '../core/events.js';

export { LIFECYCLE_ACTIONS } from '../core/events.js';
export type { EngineEvent, EventAction, EventSink, EventSinks, EventSource } from '../core/events.js';

/** Filter of `EventLog.query`; every field optional. */
export interface EventQuery {
  /** Only this function (`function_name` value). */
  readonly function?: string;
  /** Only events at or after this time, epoch milliseconds. */
  readonly since?: number;
  /** At most this many, the newest ones (still oldest first); all when absent. */
  readonly limit?: number;
  /** False: leave out the routine replica lifecycle steps (LIFECYCLE_ACTIONS); absent or true: keep them. */
  readonly lifecycle?: boolean;
}

/**
 * A bounded in-memory log of engine events: a ring that keeps the newest `capacity`
 * events, plus sinks called on each record. A throwing sink is reported to `onSinkError`
 * and does not stop the others.
 */
export class EventLog implements EventSinks {
  private readonly ring: Array<EngineEvent | undefined>;
  /** Index where the next event goes. */
  private head = 0;
  private size = 0;
  private readonly sinks = new Set<EventSink>();

  /**
   * @param capacity events kept (at least 1).
   * @param onSinkError called with the error of a throwing sink.
   */
  constructor(
    readonly capacity: number,
    private readonly onSinkError: (err: unknown, event: EngineEvent) => void = () => undefined,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event log capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array<EngineEvent | undefined>(capacity).fill(undefined);
  }

  /** Events held now (at most `capacity`). */
  get length(): number {
    return this.size;
  }

  record(event: EngineEvent): void {
    this.ring[this.head] = event;
    this.head = (this.head + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
    for (const sink of [...this.sinks]) {
      try {
        sink(event);
      } catch (err) {
        this.onSinkError(err, event);
      }
    }
  }

  /** Adds a sink; returns the function that removes it. */
  addSink(sink: EventSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** Matching events, oldest first. */
  query(filter: EventQuery = {}): EngineEvent[] {
    const out: EngineEvent[] = [];
    const start = (this.head - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) {
      const event = this.ring[(start + i) % this.capacity];
      if (event === undefined) continue;
      if (filter.function !== undefined && event.function !== filter.function) continue;
      if (filter.since !== undefined && event.time < filter.since) continue;
      if (filter.lifecycle === false && LIFECYCLE_ACTIONS.has(event.action)) continue;
      out.push(event);
    }
    return filter.limit === undefined ? out : out.slice(Math.max(0, out.length - filter.limit));
  }
}

/** One CSV field per RFC 4180: quoted when it holds a comma, a quote, CR or LF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * Renders events as `text/csv` (RFC 4180, CRLF line ends) with the header
 * `time,action,target,status,from,to`: time in ISO-8601 UTC; target is the function, or
 * `<function>/<replica>` for a lifecycle event; status is the reason word; from and to are
 * the desired replicas before and after a decision (empty on a replica's lifecycle row).
 */
export function eventsToCsv(events: readonly EngineEvent[]): string {
  const lines = ['time,action,target,status,from,to'];
  for (const e of events) {
    const target = e.replica === undefined ? e.function : `${e.function}/${e.replica}`;
    // A lifecycle row (one replica) carries no counts: from and to are empty.
    const counts = e.replica === undefined ? [String(e.from), String(e.to)] : ['', ''];
    lines.push([new Date(e.time).toISOString(), e.action, target, e.reason, ...counts].map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
