/** One call of a trace: when (ms from the trace's start), to which function, and how long it runs. */
export interface Arrival {
  readonly timeMs: number;
  /** Index into the stack's functions. */
  readonly fn: number;
  /** Service time from the trace, ms; null to draw it from the function's model. */
  readonly serviceMs: number | null;
  /** True for an async call (`POST /async-function/...`): stored at once, delivered by the async pool; absent for a call. */
  readonly async?: true;
}

/**
 * A load trace: arrivals in time order, in batches, read lazily (a file is streamed, never
 * held whole). The generator's return value is the trace's end, ms: its last arrival, the
 * end of its last interval, or a builtin's length.
 */
export interface Trace {
  /** What was read, for the report (`builtin:step`, `azure: 3 rows by HashFunction, ...`). */
  readonly description: string;
  /** The end when known before reading (builtins), ms; null for files. */
  readonly knownEndMs: number | null;
  /** What the reader decided while reading (how Azure rows were mapped); filled as it reads. */
  readonly notes: string[];
  /** Arrivals before `limitMs` (all when null). */
  batches(limitMs: number | null): AsyncGenerator<Arrival[], number>;
}
