import { createReadStream } from 'node:fs';
import { AppError } from '../errors.js';
import { parseDurationMs } from '../policy/duration.js';
import { builtinTrace } from './builtin.js';
import type { Arrival, Trace } from './arrival.js';
import type { Random } from './random.js';

export type { Arrival, Trace } from './arrival.js';

/** Arrivals handed out at once; bounds what a reader holds. */
export const BATCH = 4096;

/**
 * Opens `builtin:NAME[:ARG]` or a CSV file, whose header names its layout:
 * `time,function[,duration[,async]]` (one row per call; async 1 marks an async call), `start,function,count` (calls per
 * interval) or `HashOwner,HashApp,HashFunction,Trigger,1,...,1440` (the Azure Functions 2019
 * invocations-per-minute layout). `functions` are the stack's function names, in order.
 * Errors are TRACE_INVALID and name the line.
 */
export function openTrace(spec: string, functions: readonly string[], random: Random): Trace {
  if (spec.startsWith('builtin:')) return builtinTrace(spec.slice('builtin:'.length), functions.length, random);
  const notes: string[] = [];
  return {
    description: spec,
    knownEndMs: null,
    notes,
    batches: (limitMs) => readCsvTrace(spec, functions, random, limitMs, notes),
  };
}

function invalid(path: string, line: number, message: string): AppError {
  return new AppError('TRACE_INVALID', `${path} line ${line}: ${message}`, { details: { path, line } });
}

/** A line ends at LF, CRLF or a lone CR (as readline splits). */
const LINE_BREAK = /\r\n|\n|\r/;

/**
 * Lines of a file, numbered from 1, streamed a chunk (64 KiB) at a time: `next` hands out one
 * line, `chunk` every line read and not handed out yet (the per-request reader takes them in
 * bulk: no promise per line), and iterating yields them one by one.
 */
class LineSource implements AsyncIterable<[number, string]> {
  private pending: string[] = [];
  private at = 0;
  /** Text after the last line break read (a line not finished yet). */
  private rest = '';
  private ended = false;
  /** Lines handed out so far: the number of the last one. */
  private handed = 0;

  private constructor(private readonly chunks: AsyncIterator<string>) {}

  static async open(path: string): Promise<LineSource> {
    const stream = createReadStream(path, { encoding: 'utf8' });
    try {
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
    } catch (err) {
      throw new AppError('TRACE_INVALID', `cannot read trace ${path}: ${(err as Error).message}`, { cause: err });
    }
    return new LineSource(stream[Symbol.asyncIterator]() as AsyncIterator<string>);
  }

  /** The next line and its number; null at the end of the file. */
  async next(): Promise<[number, string] | null> {
    while (this.at >= this.pending.length) if (!(await this.fill())) return null;
    this.handed += 1;
    return [this.handed, this.pending[this.at++] as string];
  }

  /** Every line read and not handed out yet (at least one), with the first one's number; null at the end. */
  async chunk(): Promise<{ readonly first: number; readonly lines: readonly string[] } | null> {
    while (this.at >= this.pending.length) if (!(await this.fill())) return null;
    const lines = this.at === 0 ? this.pending : this.pending.slice(this.at);
    const first = this.handed + 1;
    this.handed += lines.length;
    this.pending = [];
    this.at = 0;
    return { first, lines };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<[number, string]> {
    for (let c = await this.chunk(); c !== null; c = await this.chunk()) {
      for (let i = 0; i < c.lines.length; i++) yield [c.first + i, c.lines[i] as string];
    }
  }

  /** Reads the next chunk into `pending`; false once the file has ended and every line was read. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const read = await this.chunks.next();
    this.at = 0;
    if (read.done === true) {
      this.ended = true;
      const last = this.rest.endsWith('\r') ? this.rest.slice(0, -1) : this.rest;
      this.rest = '';
      this.pending = last === '' ? [] : [last];
      return this.pending.length > 0;
    }
    const text = this.rest + read.value;
    // A CR at the very end may be the first half of a CRLF: it waits for the next chunk.
    const cut = text.endsWith('\r') ? text.length - 1 : text.length;
    const parts = text.slice(0, cut).split(LINE_BREAK);
    this.rest = (parts.pop() ?? '') + text.slice(cut);
    this.pending = parts;
    return true;
  }
}

/** Seconds from the trace's start (a decimal), or an ISO-8601 time relative to the first one seen. */
class TimeParser {
  private base: number | null = null;

  parse(text: string): number | null {
    const t = text.trim();
    if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
    if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return null;
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) return null;
    this.base ??= ms;
    return ms - this.base;
  }
}

function functionIndex(functions: readonly string[]): Map<string, number> {
  return new Map(functions.map((name, i) => [name, i]));
}

async function* readCsvTrace(path: string, functions: readonly string[], random: Random, limitMs: number | null, notes: string[]): AsyncGenerator<Arrival[], number> {
  const source = await LineSource.open(path);
  let header: [number, string] | null;
  for (;;) {
    header = await source.next();
    if (header === null) throw invalid(path, 1, 'the trace is empty: no header line');
    if (header[1].trim() !== '') break;
  }
  const columns = header[1].trim().toLowerCase().split(',').map((c) => c.trim());
  const names = columns.join(',');
  if (names === 'time,function' || names === 'time,function,duration') return yield* perRequest(path, source, functions, limitMs, false);
  if (names === 'time,function,duration,async') return yield* perRequest(path, source, functions, limitMs, true);
  if (names === 'start,function,count') return yield* perInterval(path, source, functions, random, limitMs);
  if (names.startsWith('hashowner,hashapp,hashfunction,trigger,')) return yield* azure(path, source, columns.length, functions, random, limitMs, notes);
  throw invalid(path, header[0], `unknown header ${JSON.stringify(header[1])}: expected time,function[,duration[,async]], start,function,count or HashOwner,HashApp,HashFunction,Trigger,1,...,1440`);
}

/** The `async` cell of a per-request row: true for an async call; empty, 0, false or sync for a call; null when unreadable. */
function asyncCell(text: string | undefined): boolean | null {
  const t = (text ?? '').trim().toLowerCase();
  if (t === '1' || t === 'true' || t === 'async') return true;
  return t === '' || t === '0' || t === 'false' || t === 'sync' ? false : null;
}

/** One row of a per-request trace (`time,function[,duration[,async]]`) as an arrival not before `last`; TRACE_INVALID naming the line. */
function requestRow(path: string, n: number, line: string, times: TimeParser, index: ReadonlyMap<string, number>, withAsync: boolean, last: number): Arrival {
  const [time = '', name = '', duration, flag, extra] = line.split(',');
  if (extra !== undefined || (!withAsync && flag !== undefined)) throw invalid(path, n, `more than ${withAsync ? '4 fields (time,function,duration,async)' : '3 fields (time,function,duration)'}`);
  const timeMs = times.parse(time);
  if (timeMs === null) throw invalid(path, n, `time ${JSON.stringify(time)} is not seconds from the start nor an ISO-8601 time`);
  if (timeMs < last) throw invalid(path, n, `time ${time} goes back (rows must be in time order)`);
  const fn = index.get(name.trim());
  if (fn === undefined) throw invalid(path, n, `function ${JSON.stringify(name)} is not in the stack`);
  let serviceMs: number | null = null;
  if (duration !== undefined && duration.trim() !== '') {
    const d = duration.trim();
    serviceMs = /^\d+(\.\d+)?$/.test(d) ? Number(d) : parseDurationMs(d);
    if (serviceMs === null) throw invalid(path, n, `duration ${JSON.stringify(duration)} is not milliseconds nor a duration like 120ms`);
  }
  const isAsync = asyncCell(flag);
  if (isAsync === null) throw invalid(path, n, `async ${JSON.stringify(flag)} is not 1/0, true/false or async/sync`);
  return isAsync ? { timeMs, fn, serviceMs, async: true } : { timeMs, fn, serviceMs };
}

async function* perRequest(path: string, source: LineSource, functions: readonly string[], limitMs: number | null, withAsync: boolean): AsyncGenerator<Arrival[], number> {
  const index = functionIndex(functions);
  const times = new TimeParser();
  let batch: Arrival[] = [];
  let last = 0;
  // Lines are taken a chunk at a time: one await per 64 KiB, not per call.
  for (let chunk = await source.chunk(); chunk !== null; chunk = await source.chunk()) {
    const { first, lines } = chunk;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line.trim() === '') continue;
      const arrival = requestRow(path, first + i, line, times, index, withAsync, last);
      if (limitMs !== null && arrival.timeMs >= limitMs) {
        if (batch.length > 0) yield batch;
        return last;
      }
      last = arrival.timeMs;
      batch.push(arrival);
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
  return last;
}

/** Spreads `count` calls uniformly at random over [start, start + length), in time order. */
function spread(rows: ReadonlyArray<{ readonly fn: number; readonly count: number }>, startMs: number, lengthMs: number, random: Random, limitMs: number | null): Arrival[] {
  const out: Arrival[] = [];
  for (const { fn, count } of rows) {
    for (let i = 0; i < count; i++) {
      const timeMs = startMs + random.next() * lengthMs;
      if (limitMs === null || timeMs < limitMs) out.push({ timeMs, fn, serviceMs: null });
    }
  }
  return out.sort((a, b) => a.timeMs - b.timeMs || a.fn - b.fn);
}

function* inBatches(arrivals: Arrival[]): Generator<Arrival[]> {
  for (let i = 0; i < arrivals.length; i += BATCH) yield arrivals.slice(i, i + BATCH);
}

async function* perInterval(path: string, source: LineSource, functions: readonly string[], random: Random, limitMs: number | null): AsyncGenerator<Arrival[], number> {
  const index = functionIndex(functions);
  const times = new TimeParser();
  let group: Array<{ fn: number; count: number }> = [];
  let groupStart: number | null = null;
  let lengthMs = 60_000;
  for await (const [n, line] of source) {
    if (line.trim() === '') continue;
    const [start = '', name = '', countText = '', extra] = line.split(',');
    if (extra !== undefined) throw invalid(path, n, 'more than 3 fields (start,function,count)');
    const startMs = times.parse(start);
    if (startMs === null) throw invalid(path, n, `start ${JSON.stringify(start)} is not seconds from the start nor an ISO-8601 time`);
    const fn = index.get(name.trim());
    if (fn === undefined) throw invalid(path, n, `function ${JSON.stringify(name)} is not in the stack`);
    if (!/^\d+$/.test(countText.trim())) throw invalid(path, n, `count ${JSON.stringify(countText)} is not a non-negative integer`);
    if (groupStart !== null && startMs < groupStart) throw invalid(path, n, `start ${start} goes back (rows must be in time order)`);
    if (groupStart !== null && startMs > groupStart) {
      lengthMs = startMs - groupStart;
      yield* inBatches(spread(group, groupStart, lengthMs, random, limitMs));
      group = [];
      if (limitMs !== null && startMs >= limitMs) return startMs;
    }
    groupStart = startMs;
    group.push({ fn, count: Number(countText.trim()) });
  }
  if (groupStart === null) return 0;
  yield* inBatches(spread(group, groupStart, lengthMs, random, limitMs));
  return groupStart + lengthMs;
}

async function* azure(path: string, source: LineSource, width: number, functions: readonly string[], random: Random, limitMs: number | null, notes: string[]): AsyncGenerator<Arrival[], number> {
  const minutes = width - 4;
  if (minutes < 1) throw invalid(path, 1, 'no minute columns after HashOwner,HashApp,HashFunction,Trigger');
  const index = functionIndex(functions);
  const byName = new Map<number, Float64Array>();
  const unmatched: Float64Array[] = [];
  let skipped = 0;
  for await (const [n, line] of source) {
    if (line.trim() === '') continue;
    const cells = line.split(',');
    if (cells.length !== width) throw invalid(path, n, `${cells.length} fields, the header has ${width}`);
    const counts = new Float64Array(minutes);
    for (let m = 0; m < minutes; m++) {
      const cell = (cells[m + 4] ?? '').trim();
      if (!/^\d+$/.test(cell)) throw invalid(path, n, `minute ${m + 1}: ${JSON.stringify(cell)} is not a non-negative integer`);
      counts[m] = Number(cell);
    }
    const fn = index.get((cells[2] ?? '').trim());
    if (fn !== undefined) {
      const known = byName.get(fn);
      if (known === undefined) byName.set(fn, counts);
      else for (let m = 0; m < minutes; m++) known[m] = (known[m] ?? 0) + (counts[m] ?? 0);
    } else if (unmatched.length < functions.length) unmatched.push(counts);
    else skipped += 1;
  }
  // Rows not named by HashFunction go, in file order, to the stack's functions no row named.
  const named = byName.size;
  for (let fn = 0; fn < functions.length && unmatched.length > 0; fn++) {
    if (!byName.has(fn)) byName.set(fn, unmatched.shift() as Float64Array);
  }
  skipped += unmatched.length;
  notes.push(`azure: ${named} function(s) matched by HashFunction, ${byName.size - named} by row order, ${skipped} row(s) not used`);
  const rows = [...byName.entries()].sort((a, b) => a[0] - b[0]);
  for (let m = 0; m < minutes; m++) {
    const startMs = m * 60_000;
    if (limitMs !== null && startMs >= limitMs) return startMs;
    const counts = rows.map(([fn, c]) => ({ fn, count: c[m] ?? 0 }));
    yield* inBatches(spread(counts, startMs, 60_000, random, limitMs));
  }
  return minutes * 60_000;
}
