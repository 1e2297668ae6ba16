import type { ReplicaPhase } from '../core/phase.js';

/** One replica as a policy sees it (the engine's replica table, read-only). */
export interface ReplicaRow {
  readonly id: string;
  readonly phase: ReplicaPhase;
  /** Requests holding a slot on it now. */
  readonly inFlight: number;
  /** Clock ms when its last request ended; null before the first. */
  readonly lastRequestEnd: number | null;
  /** Epoch ms when it was created (same time base as `now`). */
  readonly createdAt: number;
  /** Being drained by the engine: takes no new requests. */
  readonly draining: boolean;
}

/** Requests waiting in the function's queue, by why they wait. */
export interface QueueLengths {
  /** Every usable replica is at its limit. */
  readonly busy: number;
  /** No replica is ready (or none may take a request). */
  readonly no_replica: number;
}

/** Everything a policy decides from; time is data (`now`, epoch ms). */
export interface PolicyInput {
  readonly replicas: readonly ReplicaRow[];
  readonly queued: QueueLengths;
  /** Replicas asked for, not counting those being drained. */
  readonly desired: number;
  readonly now: number;
  /**
   * The time integral of requests in flight plus waiting (request·ms) up to `at` (clock ms),
   * from the dispatcher. With it, `concurrency` averages over time, not over decisions (a
   * decision taken because a request queued must not weigh more than a quiet second).
   */
  readonly observed?: { readonly sum: number; readonly at: number };
}

/**
 * A policy's answer: the count to run, a reason word, what it looked at (small, JSON-safe),
 * and, for a per-replica scale-down, exactly which replicas go (`replicas` is then
 * `desired - remove.length`; the caller drains exactly those).
 */
export interface PolicyDecision {
  readonly replicas: number;
  readonly reason: string;
  readonly inputs: Readonly<Record<string, number | string | boolean | null>>;
  readonly remove?: readonly string[];
}

/** True for a replica the engine may send requests to (ready, not draining). */
export function usable(replica: ReplicaRow): boolean {
  return replica.phase === 'ready' && !replica.draining;
}

/**
 * Replicas on their way up: those listed as `starting` plus those asked for and not listed
 * yet (a provider that creates them later, like a Deployment creating pods).
 */
export function startingCount(input: PolicyInput): number {
  const listed = input.replicas.filter((r) => r.phase === 'starting').length;
  const live = input.replicas.filter((r) => !r.draining && (r.phase === 'starting' || r.phase === 'ready')).length;
  return listed + Math.max(0, input.desired - live);
}
