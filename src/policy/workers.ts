import { usable, type PolicyDecision, type PolicyInput } from './decision.js';
import type { PolicySpec } from './spec.js';

/**
 * The rules `queue` and `free-workers` share (EverAI's autoscalers), in order: wake at 0,
 * top up to min, cap at max. Returns null when none applies and the kind's own rule decides.
 */
export function floorAndCeiling(input: PolicyInput, spec: PolicySpec): PolicyDecision | null {
  const { desired } = input;
  const waiting = input.queued.busy + input.queued.no_replica;
  const inputs = { desired, min: spec.minReplicas, max: spec.maxReplicas, waiting };
  // EverAI never wakes a function at 0; we do, as soon as a request waits.
  if (desired === 0 && waiting > 0) return { replicas: Math.max(spec.minReplicas, 1), reason: 'wake', inputs };
  // Below min: the whole gap at once, the step does not apply.
  if (desired < spec.minReplicas) return { replicas: spec.minReplicas, reason: 'top-up-to-min', inputs };
  if (desired > spec.maxReplicas) return { replicas: spec.maxReplicas, reason: 'capped-at-max', inputs };
  return null;
}

/** One step up: min(step, max - desired) more. */
export function stepUp(input: PolicyInput, spec: PolicySpec, inputs: PolicyDecision['inputs']): PolicyDecision {
  const room = spec.maxReplicas - input.desired;
  if (room <= 0) return { replicas: input.desired, reason: 'at-max', inputs };
  return { replicas: input.desired + Math.min(spec.step, room), reason: 'step-up', inputs };
}

/**
 * Idle removal, per replica: a ready replica with nothing in flight whose last request
 * ended (or, never used, which was created) at least `maxIdleTimeMs` ago may go, newest
 * first, never below `floor`. Returns null when none goes.
 */
export function removeIdle(input: PolicyInput, spec: PolicySpec, floor: number, inputs: PolicyDecision['inputs']): PolicyDecision | null {
  const room = input.desired - Math.max(floor, spec.minReplicas);
  if (room <= 0) return null;
  const idle = input.replicas
    .map((r, index) => ({ r, index }))
    .filter(({ r }) => usable(r) && r.inFlight === 0 && input.now - (r.lastRequestEnd ?? r.createdAt) >= spec.maxIdleTimeMs)
    // Newest first; the table is in creation order, so a later row is newer among equal times.
    .sort((a, b) => b.r.createdAt - a.r.createdAt || b.index - a.index)
    .slice(0, room)
    .map(({ r }) => r.id);
  if (idle.length === 0) return null;
  return { replicas: input.desired - idle.length, reason: 'idle', inputs: { ...inputs, idleTimeoutMs: spec.maxIdleTimeMs }, remove: idle };
}
