import type { DecideInput, Decision } from './cycle.js';

/**
 * The decision after a function's settings changed (a named policy edited): bring the count
 * into [min, max] at once, whatever the policy kind. Below min: `reset-to-min`; above max:
 * `capped-at-max`; a function parked at zero by the idler (`zero=true`) stays there (the
 * wake brings it back to min); otherwise `within-bounds`, unchanged. Pure; time is not an input.
 */
export const decideBounds = ({ state, policy }: Pick<DecideInput, 'state' | 'policy' | 'now'>): Decision => {
  const inputs = { desired: state.desired, minReplicas: policy.minReplicas, maxReplicas: policy.maxReplicas };
  if (state.desired === 0 && policy.scaleToZero) return { replicas: 0, reason: 'parked-at-zero', inputs };
  if (state.desired < policy.minReplicas) return { replicas: policy.minReplicas, reason: 'reset-to-min', inputs };
  if (state.desired > policy.maxReplicas) return { replicas: policy.maxReplicas, reason: 'capped-at-max', inputs };
  return { replicas: state.desired, reason: 'within-bounds', inputs };
};
