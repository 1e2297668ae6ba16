import type { ScalingPolicy } from './labels.js';

/** The manual scale API's decision: the requested count, capped at the function's max. */
export interface ManualDecision {
  readonly replicas: number;
  readonly reason: 'manual' | 'capped-at-max';
  readonly inputs: { readonly requested: number; readonly maxReplicas: number };
}

/**
 * Decides what `POST /system/scale-function` does: any count from 0 up to the function's
 * max, as asked (below min too: an operator may park a function); above max is capped at
 * max, not refused. Pure.
 */
export function decideManual(input: { readonly requested: number; readonly policy: Pick<ScalingPolicy, 'maxReplicas'> }): ManualDecision {
  const { requested, policy } = input;
  const inputs = { requested, maxReplicas: policy.maxReplicas };
  if (requested > policy.maxReplicas) return { replicas: policy.maxReplicas, reason: 'capped-at-max', inputs };
  return { replicas: requested, reason: 'manual', inputs };
}
