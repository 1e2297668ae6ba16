import type { DecideInput, Decision } from './cycle.js';

/**
 * The wake decision, pure: a function that wants 0 replicas goes to max(min, 1) (reason
 * `wake`); one that already wants replicas stays as it is (reason `awake`: a wake raced
 * another change, or its replicas are still starting). Time is not an input.
 */
export const decideWake = ({ state, policy }: Pick<DecideInput, 'state' | 'policy' | 'now'>): Decision => {
  if (state.desired > 0) return { replicas: state.desired, reason: 'awake', inputs: { desired: state.desired } };
  return { replicas: Math.max(policy.minReplicas, 1), reason: 'wake', inputs: { desired: 0, minReplicas: policy.minReplicas } };
};
