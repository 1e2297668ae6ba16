import { usable, type PolicyDecision, type PolicyInput } from './decision.js';
import { average, record, recordSegment, type Bucket } from './concurrency-window.js';
import { PANIC_THRESHOLD, PANIC_WINDOW_MS, STABLE_WINDOW_MS, type PolicySpec } from './spec.js';

/** The panic window's share of the stable window (Knative's panic-window-percentage, 10 %). */
const PANIC_SHARE = PANIC_WINDOW_MS / STABLE_WINDOW_MS;

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
  const { stableWindowMs } = spec;
  const { buckets, integral, observed } = observe(input, memory, stableWindowMs);
  const stable = average(buckets, now, stableWindowMs);
  const panic = average(buckets, now, stableWindowMs * PANIC_SHARE);
  const wantStable = ceilDiv(stable, spec.target);
  const wantPanic = ceilDiv(panic, spec.target);
  const ready = Math.max(1, input.replicas.filter(usable).length);
  const panicked = panicState(memory, wantPanic / ready >= PANIC_THRESHOLD, now, stableWindowMs);
  const panicking = panicked.panicSince !== null;
  let { panicMax } = panicked;
  // What the windows ask for now, before panic's no-drop rule.
  const asked = clamp(panicking ? Math.max(wantStable, wantPanic) : wantStable, spec);
  let want = asked;
  if (panicking) {
    want = clamp(Math.max(panicMax, asked), spec);
    panicMax = want;
  }
  // A request present (waiting or in flight) always keeps a replica, whatever the averages say:
  // it wakes a function at 0, and a wake is not undone while its request waits for the replica.
  if (observed > 0) want = Math.max(want, 1);
  const { recent, replicas } = holdDown(memory.recent, want, now, spec.downWindowMs);
  const reason = reasonFor(replicas, input.desired, panicking, want, asked);
  const inputs = {
    desired: input.desired,
    observed,
    stable: Math.round(stable * 1000) / 1000,
    panic: Math.round(panic * 1000) / 1000,
    target: spec.target,
    panicking,
  };
  return { decision: { replicas, reason, inputs }, memory: { buckets, panicSince: panicked.panicSince, panicMax, recent, integral } };
}

/**
 * Records what is observed now (requests in flight + waiting) in the windows: time-weighted
 * when the dispatcher's integral is given (the mean since the last reading, spread over the
 * seconds it covers); else (first reading, or no integral) a point sample.
 */
function observe(input: PolicyInput, memory: ConcurrencyMemory, stableWindowMs: number): { buckets: Bucket[]; integral: { readonly sum: number; readonly at: number } | null; observed: number } {
  const inFlight = input.replicas.reduce((sum, r) => sum + r.inFlight, 0);
  const waiting = input.queued.busy + input.queued.no_replica;
  const observed = inFlight + waiting;
  const last = memory.integral ?? null;
  const reading = input.observed;
  const buckets =
    reading !== undefined && last !== null && reading.at > last.at
      ? recordSegment(memory.buckets, last.at, reading.at, (reading.sum - last.sum) / (reading.at - last.at), stableWindowMs)
      : record(memory.buckets, input.now, observed, stableWindowMs);
  return { buckets, integral: reading ?? last, observed };
}

/** Panic starts (or is extended) when the threshold is crossed; it ends a whole stable window after the last crossing. */
function panicState(memory: ConcurrencyMemory, over: boolean, now: number, stableWindowMs: number): { panicSince: number | null; panicMax: number } {
  if (over) return { panicSince: now, panicMax: memory.panicMax };
  if (memory.panicSince !== null && now - memory.panicSince > stableWindowMs) return { panicSince: null, panicMax: 0 };
  return { panicSince: memory.panicSince, panicMax: memory.panicMax };
}

/** A lower count applies only once it held for `downWindowMs`: the largest recommendation of that window wins. */
function holdDown(
  recent: ConcurrencyMemory['recent'],
  want: number,
  now: number,
  downWindowMs: number,
): { recent: ConcurrencyMemory['recent']; replicas: number } {
  if (downWindowMs > 0) {
    const kept = [...recent.filter((r) => r.at >= now - downWindowMs), { at: now, replicas: want }];
    return { recent: kept, replicas: Math.max(...kept.map((r) => r.replicas)) };
  }
  return { recent: recent.length > 0 ? [] : recent, replicas: want };
}

/** The reason word: which way the count moved, or what held it. */
function reasonFor(replicas: number, desired: number, panicking: boolean, want: number, asked: number): string {
  if (replicas > desired) return panicking ? 'panic' : 'scale-up';
  if (replicas < desired) return 'scale-down';
  if (want > asked) return 'panic-hold';
  if (replicas > want) return 'down-delayed';
  return 'unchanged';
}
