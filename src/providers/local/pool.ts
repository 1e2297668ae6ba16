import type { CrashLoop, ReplicaCrash, ReplicaState } from '../types.js';
import type { Replica } from './replica.js';
import type { StackFunction } from './stack.js';

/** One function of the local provider: its spec, desired count, replicas and crash back-off. */
export interface LocalFunction {
  readonly spec: StackFunction;
  desired: number;
  /** Replicas counted toward desired (starting or ready). */
  live: Replica[];
  /** Replicas being removed; still finishing in-flight requests. */
  draining: Set<Replica>;
  /** Crashes since one of its replicas last became ready. */
  crashes: number;
  /** The last of those crashes; undefined when crashes is 0. */
  lastCrash: ReplicaCrash | undefined;
  /** Its most recent crash, kept after a replica became ready again; undefined before the first. */
  recentCrash: ReplicaCrash | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** When restartTimer fires, epoch ms. */
  restartAt: number;
  /** Replicas whose port is being allocated (counted so concurrent reconciles do not overshoot). */
  pendingStarts: number;
  /** The n of the next replica id `<fn>-<n>`. */
  nextId: number;
  /** Its last replica to become ready said so on its readiness pipe: the next ones are expected to (see PIPE_GRACE_MS). */
  signalsReady: boolean;
  /** Calls wait for its first ready replica (`hurry`): its starting replicas probe at the fast pace until one is ready. */
  awaited: boolean;
}

/** The first restart after a crash waits this long, ms; each further crash in a row doubles it. */
const FIRST_RESTART_DELAY_MS = 50;
const MAX_RESTART_DELAY_MS = 10_000;

/** The back-off before the next replica after `crashes` crashes in a row (at least 1), ms. Pure. */
export function restartDelayMs(crashes: number): number {
  return Math.min(FIRST_RESTART_DELAY_MS * 2 ** Math.min(Math.max(crashes, 1) - 1, 30), MAX_RESTART_DELAY_MS);
}

/** A function's record before its first replica starts. */
export function newLocalFunction(spec: StackFunction, desired: number): LocalFunction {
  return {
    spec,
    desired: Math.max(0, desired),
    live: [],
    draining: new Set(),
    crashes: 0,
    lastCrash: undefined,
    recentCrash: undefined,
    restartTimer: undefined,
    restartAt: 0,
    pendingStarts: 0,
    nextId: 1,
    signalsReady: false,
    awaited: false,
  };
}

/** What the provider reports for a function: desired, ready, its labels and annotations. */
export function stateOf(fn: LocalFunction): ReplicaState {
  return {
    desired: fn.desired,
    ready: fn.live.filter((r) => r.phase === 'ready').length,
    labels: fn.spec.labels,
    annotations: fn.spec.annotations,
  };
}

/**
 * The function's crash loop: its replicas crashed (the last crash, how many in a row) and
 * none has become ready since; the next start is due at `nextRetryAt`. Null otherwise.
 */
export function crashLoopOf(fn: LocalFunction): CrashLoop | null {
  if (fn.lastCrash === undefined || fn.crashes === 0) return null;
  const due = fn.restartTimer !== undefined && fn.desired > fn.live.length + fn.pendingStarts;
  return { crashes: fn.crashes, last: fn.lastCrash, nextRetryAt: due ? fn.restartAt : null };
}

/** The replica a bare count change removes first: a starting one, then the newest. */
export function leastUseful(live: readonly Replica[]): Replica | undefined {
  return [...live].reverse().sort((a, b) => rank(a) - rank(b))[0];
}

function rank(replica: Replica): number {
  return replica.phase === 'ready' ? 1 : 0;
}
