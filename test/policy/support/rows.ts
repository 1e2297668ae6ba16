import type { PolicyInput, ReplicaRow } from '../../../src/policy/decision.js';
import { parsePolicySpec, type PolicySpec } from '../../../src/policy/spec.js';

/** The time every row is judged at, epoch ms. */
export const NOW = 10_000_000;

/** A ready replica created an hour before NOW, nothing in flight, its last request ending `idleMs` ago. */
export function ready(id: string, idleMs: number, more: Partial<ReplicaRow> = {}): ReplicaRow {
  return { id, phase: 'ready', inFlight: 0, lastRequestEnd: NOW - idleMs, createdAt: NOW - 3_600_000, draining: false, ...more };
}

/** A ready replica with `n` requests in flight. */
export function busy(id: string, n = 1, more: Partial<ReplicaRow> = {}): ReplicaRow {
  return ready(id, 0, { inFlight: n, ...more });
}

/** A replica still starting. */
export function starting(id: string): ReplicaRow {
  return { id, phase: 'starting', inFlight: 0, lastRequestEnd: null, createdAt: NOW - 100, draining: false };
}

/** Input with `desired` equal to the rows that are not draining, unless given. */
export function input(replicas: ReplicaRow[], queued: Partial<PolicyInput['queued']> = {}, more: Partial<PolicyInput> = {}): PolicyInput {
  return { replicas, queued: { busy: 0, no_replica: 0, ...queued }, desired: replicas.filter((r) => !r.draining).length, now: NOW, ...more };
}

/** A spec from labels (defaults: min 1, max 20, ceiling 100); throws on a problem. */
export function spec(labels: Record<string, string>): PolicySpec {
  const result = parsePolicySpec(labels, {}, { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 100 });
  if (!result.ok) throw new Error(result.problems.join('; '));
  return result.spec;
}
