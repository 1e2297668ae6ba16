import { policyDefaults, requestDefaults } from '../config/defaults.js';
import type { Config } from '../config/index.js';
import { parseRequestLimits, parseScalingPolicy } from '../policy/labels.js';
import type { ReplicaState } from '../providers/types.js';

/**
 * A function's delivery limit: twice its max replicas × its hard concurrency (what it can
 * serve at once, and as many waiting at its slots, so a freed slot is taken at once, as by a
 * synchronous call); the whole pool when its concurrency is unlimited or its labels do not parse.
 */
export function deliveryCap(config: Config): (state: Pick<ReplicaState, 'labels' | 'annotations'>) => number {
  const policy = policyDefaults(config);
  const requests = requestDefaults(config);
  return (state) => {
    const scaling = parseScalingPolicy(state.labels, state.annotations, policy);
    const limits = parseRequestLimits(state.labels, state.annotations, requests);
    if (!scaling.ok || !limits.ok || limits.limits.concurrency === 0) return config.asyncWorkers;
    return Math.min(config.asyncWorkers, 2 * scaling.policy.maxReplicas * limits.limits.concurrency);
  };
}
