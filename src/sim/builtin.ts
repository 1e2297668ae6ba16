import { AppError } from '../errors.js';
import type { Random } from './random.js';
import type { Arrival, Trace } from './arrival.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** The next call time of one function's stream, ms; Infinity when it has ended. */
type Source = () => number;

interface Builtin {
  readonly lengthMs: number;
  /** A function's own stream (each function draws from its own forked generator). */
  source(random: Random, lengthMs: number): Source;
}

/**
 * A Poisson stream whose rate (calls/s) changes with time, by thinning: candidates at the
 * peak rate `peak`, each kept with probability rate(t) / peak (exact for any rate ≤ peak).
 */
function thinned(rate: (ms: number) => number, peak: number): Builtin['source'] {
  return (random, lengthMs) => {
    let t = 0;
    const meanGap = SECOND / peak;
    return () => {
      for (;;) {
        t += random.exponential(meanGap);
        if (t >= lengthMs) return Number.POSITIVE_INFINITY;
        if (random.next() * peak < rate(t)) return t;
      }
    };
  };
}

/** Bursts of 1-5 calls 100 ms apart; gaps between bursts exponential with a 20-minute mean. */
function sparseSource(random: Random, lengthMs: number): Source {
  let burstAt = random.exponential(20 * MINUTE);
  let left = 1 + Math.floor(random.next() * 5);
  let k = 0;
  return () => {
    if (k >= left) {
      burstAt += (left - 1) * 100 + random.exponential(20 * MINUTE);
      left = 1 + Math.floor(random.next() * 5);
      k = 0;
    }
    const t = burstAt + k * 100;
    k += 1;
    return t < lengthMs ? t : Number.POSITIVE_INFINITY;
  };
}

function positive(arg: string | undefined, name: string, fallback: number | null): number {
  if (arg === undefined && fallback !== null) return fallback;
  const value = Number(arg);
  if (arg === undefined || !Number.isFinite(value) || value <= 0) throw new AppError('TRACE_INVALID', `builtin:${name} needs a rate in calls per second, like builtin:${name}:40`);
  return value;
}

/**
 * The built-in traces, each to every function of the stack, each function on its own
 * seeded stream (rates in calls/s per function):
 * - `poisson:RATE`: constant RATE; 10 minutes.
 * - `step`: 1 for a minute, 20 from 1:00 to 6:00, then 1 again; 10 minutes.
 * - `spike`: 2, with 50 for 30 s from minute 4 of every 5 minutes; 15 minutes.
 * - `diurnal[:MEAN]`: MEAN (default 10) × (1 − 0.8 cos(2π t / 24 h)): quiet at 0:00, peak at 12:00; 24 hours.
 * - `sparse`: bursts of 1-5 calls 100 ms apart, about every 20 minutes; 2 hours.
 */
function builtin(name: string, arg: string | undefined): Builtin {
  switch (name) {
    case 'poisson': {
      const rate = positive(arg, name, null);
      return { lengthMs: 10 * MINUTE, source: thinned(() => rate, rate) };
    }
    case 'step':
      return { lengthMs: 10 * MINUTE, source: thinned((t) => (t >= MINUTE && t < 6 * MINUTE ? 20 : 1), 20) };
    case 'spike':
      return { lengthMs: 15 * MINUTE, source: thinned((t) => (t % (5 * MINUTE) >= 4 * MINUTE && t % (5 * MINUTE) < 4 * MINUTE + 30 * SECOND ? 50 : 2), 50) };
    case 'diurnal': {
      const mean = positive(arg, name, 10);
      return { lengthMs: 24 * HOUR, source: thinned((t) => mean * (1 - 0.8 * Math.cos((2 * Math.PI * t) / (24 * HOUR))), 1.8 * mean) };
    }
    case 'sparse':
      return { lengthMs: 2 * HOUR, source: sparseSource };
    default:
      throw new AppError('TRACE_INVALID', `unknown builtin trace ${JSON.stringify(name)}: expected step, spike, diurnal, sparse or poisson:RATE`);
  }
}

/** Calls of all functions are merged in windows of this length, then sorted. */
const WINDOW_MS = 10 * SECOND;

/**
 * A builtin trace (`step`, `poisson:40`, ...) to `functions` functions, seeded by `random`.
 * It runs for its own length, or for `limitMs` when given (a shape past its own length keeps
 * its last rate; `diurnal` repeats daily, `spike` every 5 minutes).
 */
export function builtinTrace(spec: string, functions: number, random: Random): Trace {
  const [name = '', arg, extra] = spec.split(':');
  if (extra !== undefined) throw new AppError('TRACE_INVALID', `builtin:${spec}: at most one argument`);
  const chosen = builtin(name, arg);
  return {
    description: `builtin:${spec}`,
    knownEndMs: chosen.lengthMs,
    notes: [],
    async *batches(limitMs) {
      const end = limitMs ?? chosen.lengthMs;
      const sources = Array.from({ length: functions }, (_, fn) => chosen.source(random.fork(fn), end));
      const next = sources.map((s) => s());
      for (let from = 0; from < end; from += WINDOW_MS) {
        const to = from + WINDOW_MS;
        const window: Arrival[] = [];
        for (let fn = 0; fn < functions; fn++) {
          const source = sources[fn] as Source;
          let t = next[fn] as number;
          while (t < to) {
            window.push({ timeMs: t, fn, serviceMs: null });
            t = source();
          }
          next[fn] = t;
        }
        if (window.length > 0) yield window.sort((a, b) => a.timeMs - b.timeMs || a.fn - b.fn);
      }
      return end;
    },
  };
}
