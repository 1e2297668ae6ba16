import type { FunctionRef } from '../core/ref.js';
import type { ReplicaRow } from './decision.js';
import type { ScalingPolicy } from './labels.js';

/**
 * What a decision sees: counts without the replicas being drained, and the replica table.
 * `R` is the row type: the policy's ReplicaRow, or the engine's richer ReplicaView (see
 * src/engine/changer.ts, which fixes it).
 */
export interface ChangeState<R extends ReplicaRow = ReplicaRow> {
  /** Desired replicas, not counting those the engine is draining. */
  readonly desired: number;
  readonly ready: number;
  readonly replicas: readonly R[];
}

/** A pure decision: new count, a reason word, and what it looked at (bounded, JSON-safe). */
export interface Decision {
  readonly replicas: number;
  readonly reason: string;
  readonly inputs?: Readonly<Record<string, unknown>>;
  /**
   * Exactly which replicas go (a policy's per-replica idle removal); the count then falls by
   * the number of those still in service. Absent: the cycle chooses (idle first, newest first).
   */
  readonly remove?: readonly string[];
}

/** What a decision is given: the state, the policy, the time and what `load` read (the alert state). */
export interface DecideInput<C = undefined, R extends ReplicaRow = ReplicaRow> {
  readonly state: ChangeState<R>;
  readonly policy: ScalingPolicy;
  /** Epoch ms, from the engine's clock. */
  readonly now: number;
  /** What the change's `load` hook returned; undefined without one. */
  readonly context: C;
}

/**
 * Blocks scale-downs while something holds the function (an alert labelled
 * `scale_action="hold"`, see src/alerts/signals.ts). Asked under the lock, only for a
 * decision that would lower the count; it may read the function's stored alert state (a
 * cache read: see the store), so it may answer with a promise. A rejection ends the change
 * unapplied: nothing scales down on a state it could not read.
 */
export interface ScaleDownGuard {
  /** What holds `ref` now (alert names); empty when nothing does. */
  holding(ref: FunctionRef): readonly string[] | Promise<readonly string[]>;
}
