import { usable, type PolicyDecision, type PolicyInput } from './decision.js';
import { PANIC_THRESHOLD, PANIC_WINDOW_MS, STABLE_WINDOW_MS, type PolicySpec } from './spec.js';

/** The panic window's share of the stable window (Knative's panic-window-percentage, 10 %). */
const PANIC_SHARE = PANIC_WINDOW_MS / STABLE_WINDOW_MS;

/**
 * Observed concurrency per second of the clock: `at` is the second's start, ms; `sum / weight`
 * is the second's mean (a point sample weighs 1, a time-weighted segment its length in ms).
 */
interface Bucket {
  readonly at: number;
  readonly sum: number;
  readonly count: number;
}

/** What `concurrency` remembers between decisions (plain JSON, bounded by the windows). */
export interface ConcurrencyMemory {
  /** Samples of the stable window, oldest first; at most one bucket per second. */
  readonly buckets: readonly Bucket[];
  /** When the panic threshold was last crossed; null when not panicking. */
  readonly panicSince: number | null;
  /** Most replicas asked for during this panic (desired never drops while panicking). */
  readonly panicMax: number;
  /** Recent recommendations within the scale-down delay, oldest first. */
  readonly recent: ReadonlyArray<{ readonly at: number; readonly replicas: number }>;
  /** The last reading of the time integral (PolicyInput.observed); null before the first. */
  readonly integral?: { readonly sum: number; readonly at: number } | null;
}

export const EMPTY_CONCURRENCY_MEMORY: ConcurrencyMemory = Object.freeze({ buckets: [], panicSince: null, panicMax: 0, recent: [], integral: null });

const BUCKET_MS = 1000;

function record(buckets: readonly Bucket[], now: number, value: number, windowMs: number): Bucket[] {
  const at = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  const kept = buckets.filter((b) => b.at > now - windowMs);
  const last = kept.at(-1);
  if (last !== undefined && last.at === at) kept[kept.length - 1] = { at, sum: last.sum + value, count: last.count + 1 };
  else kept.push({ at, sum: value, count: 1 });
  return kept;
}

/**
 * Adds the segment (from, to] at a constant mean concurrency, split at second boundaries and
 * weighted by its length in ms; only the part inside the window counts.
 */
function recordSegment(buckets: readonly Bucket[], from: number, to: number, mean: number, windowMs: number): Bucket[] {
  const kept = buckets.filter((b) => b.at > to - windowMs || b.at === Math.floor(to / BUCKET_MS) * BUCKET_MS);
  let start = Math.max(from, to - windowMs);
  while (start < to) {
    const at = Math.floor(start / BUCKET_MS) * BUCKET_MS;
    const end = Math.min(to, at + BUCKET_MS);
    const weight = end - start;
    const last = kept.at(-1);
    if (last !== undefined && last.at === at) kept[kept.length - 1] = { at, sum: last.sum + mean * weight, count: last.count + weight };
    else kept.push({ at, sum: mean * weight, count: weight });
    start = end;
  }
  return kept;
}

/**
 * Mean of the per-second means inside the window: each second weighs the same, however often
 * it was sampled. The second `now` falls in always counts, so a window shorter than a second
 * (the panic window of a 6 s stable window is 600 ms) is never empty late in a second.
 */
function average(buckets: readonly Bucket[], now: number, windowMs: number): number {
  const current = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  let sum = 0;
  let seconds = 0;
  for (const b of buckets) {
    if (b.at <= now - windowMs && b.at !== current) continue;
    sum += b.sum / b.count;
    seconds += 1;
  }
  return seconds === 0 ? 0 : sum / seconds;
}

/** A little tolerance so 6 / 2 stays 3 and not 3.0000000001 after averaging. */
function ceilDiv(value: number, target: number): number {
  return Math.ceil(value / target - 1e-9);
}

function clamp(n: number, spec: PolicySpec): number {
  return Math.min(spec.maxReplicas, Math.max(spec.minReplicas, n));
}

/**
 * `concurrency` (Code Engine / Knative KPA). Observed concurrency = requests in flight +
 * requests waiting, averaged over time (the dispatcher's integral; a point sample per decision
 * without it) and averaged over the stable window (60 s, label
 * `window`) and the panic window (10 % of it, 6 s); desired = ceil(average / target), within [min, max].
 *
 * Panic, as Knative: it starts when the panic window asks for at least twice the ready
 * replicas (at least 1), and is extended while it does; it ends once the threshold has
 * not been crossed for a whole stable window. While panicking, desired is the larger of
 * the two windows and never drops. A lower count applies only after it held for
 * `downWindowMs` (the largest recommendation of that window wins). With min 0 and no
 * traffic, the stable average reaches 0 one stable window (about a minute) after the
 * last request, and the function goes to zero.
 */
export function decideConcurrency(input: PolicyInput, spec: PolicySpec, memory: ConcurrencyMemory): { decision: PolicyDecision; memory: ConcurrencyMemory } {
  const { now } = input;
  const inFlight = input.replicas.reduce((sum, r) => sum + r.inFlight, 0);
  const waiting = input.queued.busy + input.queued.no_replica;
  const observed = inFlight + waiting;
  const stableWindowMs = spec.stableWindowMs;
  // Time-weighted when the dispatcher's integral is given: the mean since the last reading,
  // spread over the seconds it covers; else (first reading, or no integral) a point sample.
  const last = memory.integral ?? null;
  const reading = input.observed;
  const buckets =
    reading !== undefined && last !== null && reading.at > last.at
      ? recordSegment(memory.buckets, last.at, reading.at, (reading.sum - last.sum) / (reading.at - last.at), stableWindowMs)
      : record(memory.buckets, now, observed, stableWindowMs);
  const integral = reading ?? last;
  const stable = average(buckets, now, stableWindowMs);
  const panic = average(buckets, now, stableWindowMs * PANIC_SHARE);
  const wantStable = ceilDiv(stable, spec.target);
  const wantPanic = ceilDiv(panic, spec.target);
  const ready = Math.max(1, input.replicas.filter(usable).length);

  const over = wantPanic / ready >= PANIC_THRESHOLD;
  let panicSince = memory.panicSince;
  let panicMax = memory.panicMax;
  if (over) panicSince = now;
  else if (panicSince !== null && now - panicSince > stableWindowMs) {
    panicSince = null;
    panicMax = 0;
  }
  const panicking = panicSince !== null;
  // What the windows ask for now, before panic's no-drop rule.
  const asked = clamp(panicking ? Math.max(wantStable, wantPanic) : wantStable, spec);
  let want = asked;
  if (panicking) {
    want = clamp(Math.max(panicMax, asked), spec);
    panicMax = want;
  }
  // A request waiting at 0 always wakes the function, whatever the averages say.
  if (input.desired === 0 && waiting > 0) want = Math.max(want, 1);

  let recent = memory.recent;
  let replicas = want;
  if (spec.downWindowMs > 0) {
    recent = [...recent.filter((r) => r.at >= now - spec.downWindowMs), { at: now, replicas: want }];
    replicas = Math.max(...recent.map((r) => r.replicas));
  } else if (recent.length > 0) recent = [];

  const reason =
    replicas > input.desired ? (panicking ? 'panic' : 'scale-up')
    : replicas < input.desired ? 'scale-down'
    : want > asked ? 'panic-hold'
    : replicas > want ? 'down-delayed'
    : 'unchanged';
  const inputs = {
    desired: input.desired,
    observed,
    stable: Math.round(stable * 1000) / 1000,
    panic: Math.round(panic * 1000) / 1000,
    target: spec.target,
    panicking,
  };
  return { decision: { replicas, reason, inputs }, memory: { buckets, panicSince, panicMax, recent, integral } };
}
