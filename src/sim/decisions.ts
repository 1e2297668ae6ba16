export { decideWake } from '../policy/wake.js';
import type { Decide } from '../engine/changer.js';
import { decideIdle } from '../policy/idle.js';

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
