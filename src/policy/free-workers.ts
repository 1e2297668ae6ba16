import { startingCount, usable, type PolicyDecision, type PolicyInput } from './decision.js';
import type { PolicySpec } from './spec.js';
import { floorAndCeiling, removeIdle, stepUp } from './workers.js';

/**
 * `free-workers` (EverAI FreeWorkerAutoScaler): a worker is free when it is ready and has
 * nothing in flight. When no replica is starting and fewer than `minFreeWorkers` are free,
 * add min(step, max - replicas). Same wake, top-up and idle removal as `queue`; idle
 * removal also keeps `minFreeWorkers` free (removing a free one would only bring it back).
 * With min 0 it stays at zero until a request waits, and goes back to zero once every
 * replica has been idle for `maxIdleTimeMs` (min 0 means the same for every kind).
 */
export function decideFreeWorkers(input: PolicyInput, spec: PolicySpec): PolicyDecision {
  const bound = floorAndCeiling(input, spec);
  if (bound !== null) return bound;
  const ready = input.replicas.filter(usable);
  const free = ready.filter((r) => r.inFlight === 0).length;
  const busy = ready.length - free;
  const starting = startingCount(input);
  const inputs = { desired: input.desired, free, busy, minFreeWorkers: spec.minFreeWorkers, starting };
  // min 0 means what it means for every kind: at zero with nothing waiting it stays there (a
  // request wakes it, above); once every replica is idle past the idle time, all of them go.
  if (input.desired === 0) return { replicas: 0, reason: 'at-zero', inputs };
  if (spec.minReplicas === 0 && busy === 0 && starting === 0) {
    const all = removeIdle(input, spec, 0, inputs);
    if (all !== null && all.replicas === 0) return all;
  }
  if (free < spec.minFreeWorkers) {
    if (starting > 0) return { replicas: input.desired, reason: 'starting', inputs };
    return stepUp(input, spec, inputs);
  }
  // Keep busy + minFreeWorkers replicas (and those still starting, counted in desired).
  return removeIdle(input, spec, input.desired - (free - spec.minFreeWorkers), inputs) ?? { replicas: input.desired, reason: 'unchanged', inputs };
}
