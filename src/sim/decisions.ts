import type { Decide } from '../engine/changer.js';

/**
 * The wake of a function at zero, as the gateway's waker decides it: to max(min, 1) when it
 * wants no replica, else nothing. Pure.
 */
export const decideWake: Decide = ({ state, policy }) =>
  state.desired > 0 ? { replicas: state.desired, reason: 'awake' } : { replicas: Math.max(policy.minReplicas, 1), reason: 'wake' };

/**
 * The idler's decision for a `scale.zero` function, re-checked under the change lock as the
 * gateway's idler does: to 0 when it still wants replicas, none holds a request and the
 * last call started or ended `zeroDurationMs` ago or more (`lastActivityMs`, clock ms).
 * Pure: the last activity comes in as data.
 */
export function decideIdle(lastActivityMs: number): Decide {
  return ({ state, policy, now }) => {
    const idleMs = now - lastActivityMs;
    const inputs = { idleMs, zeroDurationMs: policy.zeroDurationMs };
    if (state.desired === 0) return { replicas: 0, reason: 'at-zero', inputs };
    if (!policy.scaleToZero || idleMs < policy.zeroDurationMs || state.replicas.some((r) => r.inFlight > 0)) return { replicas: state.desired, reason: 'busy', inputs };
    return { replicas: 0, reason: 'idle', inputs };
  };
}
