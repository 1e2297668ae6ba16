import type { Decide } from '../engine/changer.js';
import { decideIdle } from '../policy/idle.js';

/**
 * The wake of a function at zero, as the gateway's waker decides it: to max(min, 1) when it
 * wants no replica, else nothing. Pure.
 */
export const decideWake: Decide = ({ state, policy }) =>
  state.desired > 0 ? { replicas: state.desired, reason: 'awake' } : { replicas: Math.max(policy.minReplicas, 1), reason: 'wake' };

/**
 * The idler's decision for a `scale.zero` function, under the change lock: the gateway's own
 * pure `decideIdle`, fed what the simulated gateway knows (its own record is the idle source,
 * as the gateway's LocalIdleSource: idle once `zeroDurationMs` passed since the last call
 * started or ended at `lastActivityMs`).
 */
export function decideIdleAt(lastActivityMs: number): Decide {
  return ({ state, policy, now }) => {
    const idleMs = now - lastActivityMs;
    return decideIdle({
      current: state.desired,
      policy,
      idleness: idleMs >= policy.zeroDurationMs ? 'idle' : 'busy',
      inFlight: state.replicas.reduce((sum, r) => sum + r.inFlight, 0),
      activitySince: false,
      idleMs,
    });
  };
}
