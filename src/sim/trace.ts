import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
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
 * `time,function[,duration]` (one row per call), `start,function,count` (calls per
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

/** Lines of a file, numbered from 1, streamed. */
async function* lines(path: string): AsyncGenerator<[number, string]> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new AppError('TRACE_INVALID', `cannot read trace ${path}: ${(err as Error).message}`, { cause: err });
  }
  let n = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    n += 1;
    yield [n, line];
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
  const source = lines(path);
  let header: [number, string] | undefined;
  for (;;) {
    const next = await source.next();
    if (next.done === true) throw invalid(path, 1, 'the trace is empty: no header line');
    if (next.value[1].trim() !== '') {
      header = next.value;
      break;
    }
  }
  const columns = header[1].trim().toLowerCase().split(',').map((c) => c.trim());
  const names = columns.join(',');
  if (names === 'time,function' || names === 'time,function,duration') return yield* perRequest(path, source, functions, limitMs);
  if (names === 'start,function,count') return yield* perInterval(path, source, functions, random, limitMs);
  if (names.startsWith('hashowner,hashapp,hashfunction,trigger,')) return yield* azure(path, source, columns.length, functions, random, limitMs, notes);
  throw invalid(path, header[0], `unknown header ${JSON.stringify(header[1])}: expected time,function[,duration], start,function,count or HashOwner,HashApp,HashFunction,Trigger,1,...,1440`);
}

async function* perRequest(path: string, source: AsyncGenerator<[number, string]>, functions: readonly string[], limitMs: number | null): AsyncGenerator<Arrival[], number> {
  const index = functionIndex(functions);
  const times = new TimeParser();
  let batch: Arrival[] = [];
  let last = 0;
  for await (const [n, line] of source) {
    if (line.trim() === '') continue;
    const [time = '', name = '', duration, extra] = line.split(',');
    if (extra !== undefined) throw invalid(path, n, 'more than 3 fields (time,function,duration)');
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
    if (limitMs !== null && timeMs >= limitMs) break;
    last = timeMs;
    batch.push({ timeMs, fn, serviceMs });
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
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

async function* perInterval(path: string, source: AsyncGenerator<[number, string]>, functions: readonly string[], random: Random, limitMs: number | null): AsyncGenerator<Arrival[], number> {
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

async function* azure(path: string, source: AsyncGenerator<[number, string]>, width: number, functions: readonly string[], random: Random, limitMs: number | null, notes: string[]): AsyncGenerator<Arrival[], number> {
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
