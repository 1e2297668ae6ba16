import type { PolicyDecision } from './decision.js';
import type { PolicySpec } from './spec.js';

/** When a gateway started deciding for a function, and until when it lowers nothing. */
export interface Takeover {
  /** Epoch ms it started deciding (start-up, a gain of ownership). */
  readonly adoptedAt: number;
  /** Epoch ms before which a policy scale-down is held: adoptedAt + takeoverWindowMs. */
  readonly until: number;
}

/**
 * How long a gateway that starts deciding for a function holds its policy's scale-downs: the
 * time its kind needs to rebuild what the previous decider remembered in memory.
 * `concurrency`: one stable window (the average starts empty), or the scale-down delay when
 * longer (its recent recommendations are gone too). `queue`, `free-workers`: the idle time
 * after which a replica may go (the new owner has not seen the replicas' last requests).
 * `rps`: nothing (its state is stored with the function).
 */
export function takeoverWindowMs(spec: PolicySpec): number {
  switch (spec.kind) {
    case 'concurrency':
      return Math.max(spec.stableWindowMs, spec.downWindowMs);
    case 'queue':
    case 'free-workers':
      return spec.maxIdleTimeMs;
    case 'rps':
      return 0;
  }
}

/**
 * The decision, unless it lowers the count (or removes replicas) before `takeover.until`:
 * then the count stays, with reason `takeover-hold` and what was decided in its inputs.
 * Scale-ups are never delayed, nor a cut to the max (a label says so, not a lost memory). Pure.
 */
export function holdAfterTakeover(decision: PolicyDecision, spec: PolicySpec, desired: number, now: number, takeover: Takeover | null): PolicyDecision {
  if (takeover === null || now >= takeover.until) return decision;
  const lowers = decision.replicas < desired || (decision.remove ?? []).length > 0;
  if (!lowers || desired > spec.maxReplicas) return decision;
  return {
    replicas: desired,
    reason: 'takeover-hold',
    inputs: { ...decision.inputs, decided: decision.reason, wanted: decision.replicas, adoptedAt: takeover.adoptedAt, holdUntil: takeover.until },
  };
}
