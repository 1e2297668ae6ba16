import { startingCount, type PolicyDecision, type PolicyInput } from './decision.js';
import type { PolicySpec } from './spec.js';
import { floorAndCeiling, removeIdle, stepUp } from './workers.js';

/**
 * `queue` (EverAI SimpleAutoScaler): below min, top up at once; else, when no replica is
 * starting and more than `maxQueueSize` requests wait because every replica is busy, add
 * min(step, max - replicas); else remove replicas idle for `maxIdleTimeMs`, newest first,
 * never below min. At 0, any waiting request wakes the function to max(min, 1).
 */
export function decideQueue(input: PolicyInput, spec: PolicySpec): PolicyDecision {
  const bound = floorAndCeiling(input, spec);
  if (bound !== null) return bound;
  const starting = startingCount(input);
  const inputs = { desired: input.desired, queuedBusy: input.queued.busy, maxQueueSize: spec.maxQueueSize, starting };
  if (input.queued.busy > spec.maxQueueSize) {
    // One step at a time: the last one must be up before the queue is judged again.
    if (starting > 0) return { replicas: input.desired, reason: 'starting', inputs };
    return stepUp(input, spec, inputs);
  }
  return removeIdle(input, spec, spec.minReplicas, inputs) ?? { replicas: input.desired, reason: 'unchanged', inputs };
}
