import { startingCount, usable, type PolicyDecision, type PolicyInput } from './decision.js';
import type { PolicySpec } from './spec.js';
import { floorAndCeiling, removeIdle, stepUp } from './workers.js';

/**
 * `free-workers` (EverAI FreeWorkerAutoScaler): a worker is free when it is ready and has
 * nothing in flight. When no replica is starting and fewer than `minFreeWorkers` are free,
 * add min(step, max - replicas). Same wake, top-up and idle removal as `queue`; idle
 * removal also keeps `minFreeWorkers` free (removing a free one would only bring it back).
 */
export function decideFreeWorkers(input: PolicyInput, spec: PolicySpec): PolicyDecision {
  const bound = floorAndCeiling(input, spec);
  if (bound !== null) return bound;
  const ready = input.replicas.filter(usable);
  const free = ready.filter((r) => r.inFlight === 0).length;
  const busy = ready.length - free;
  const starting = startingCount(input);
  const inputs = { desired: input.desired, free, busy, minFreeWorkers: spec.minFreeWorkers, starting };
  if (free < spec.minFreeWorkers) {
    if (starting > 0) return { replicas: input.desired, reason: 'starting', inputs };
    return stepUp(input, spec, inputs);
  }
  // Keep busy + minFreeWorkers replicas (and those still starting, counted in desired).
  return removeIdle(input, spec, input.desired - (free - spec.minFreeWorkers), inputs) ?? { replicas: input.desired, reason: 'unchanged', inputs };
}
