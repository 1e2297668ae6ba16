import type { AlertState } from '../policy/alert-state.js';
import { liveHolds } from '../policy/alert-signals.js';
import type { PolicyKind } from '../policy/spec.js';
import type { CallTotals } from './history.js';
import type { PolicyView } from './status.js';

/** Firing alerts of a function as the page shows them: how many scale it, which hold it, the pending scale-down. */
export interface AlertsView {
  /** Scale alerts firing now (seen within the stale window). */
  readonly firing: number;
  /** Names of the hold alerts (`scale_action="hold"`) firing now, each once, sorted. */
  readonly holds: readonly string[];
  /** When the function returns to min after its alerts resolved (ISO-8601 UTC); null when none is pending. */
  readonly scaleDownAt: string | null;
}

/** No alert known for the function. */
export const NO_ALERTS: AlertsView = Object.freeze({ firing: 0, holds: Object.freeze([]) as readonly string[], scaleDownAt: null });

/**
 * What an operator reads first about a function (the status page's card): its policy kind
 * and bounds, whether it is saturated (at max with calls still waiting) or scaled to zero,
 * its 5xx and 504 answers since the gateway started, its p95 over the last minute, its alerts.
 */
export interface OperatorView {
  /** Null when the labels are invalid. */
  readonly kind: PolicyKind | null;
  readonly minReplicas: number | null;
  readonly maxReplicas: number | null;
  /** At max (desired >= max) and calls still queued: more load will only wait longer. */
  readonly saturated: boolean;
  /** No replica wanted and none ready: the next call wakes it. */
  readonly scaledToZero: boolean;
  /** Calls answered 5xx (504 included) and 504 through this gateway since it started. */
  readonly errors: { readonly server: number; readonly timeouts: number };
  /** p95 call duration over the last minute, ms; null without calls. */
  readonly latencyP95Ms: number | null;
  readonly alerts: AlertsView;
}

/** The inputs of an OperatorView: counts, the policy, the call totals, the alert state. */
export interface OperatorInputs {
  readonly desired: number;
  readonly ready: number;
  readonly queueLength: number;
  readonly policy: PolicyView;
  readonly totals: CallTotals | undefined;
  readonly latencyP95Ms: number | null;
  readonly alerts: AlertsView;
}

/** A function's operator view. Pure. */
export function operatorView(input: OperatorInputs): OperatorView {
  const { policy } = input;
  const min = policy.type === null ? null : (policy.settings['min_replicas'] ?? null);
  const max = policy.type === null ? null : (policy.settings['max_replicas'] ?? null);
  return {
    kind: policy.type,
    minReplicas: min,
    maxReplicas: max,
    saturated: max !== null && input.desired >= max && input.queueLength > 0,
    scaledToZero: input.desired === 0 && input.ready === 0,
    errors: { server: input.totals?.errors5xx ?? 0, timeouts: input.totals?.timeouts504 ?? 0 },
    latencyP95Ms: input.latencyP95Ms,
    alerts: input.alerts,
  };
}

/** The alert view of a stored alert state at `now`: firing entries and holds seen within `staleMs`. Pure. */
export function alertsView(state: AlertState, now: number, staleMs: number): AlertsView {
  let firing = 0;
  for (const seen of Object.values(state.firing)) if (now - seen < staleMs) firing += 1;
  return {
    firing,
    holds: liveHolds(state, now, staleMs),
    scaleDownAt: state.scaleDownAt === null ? null : new Date(state.scaleDownAt).toISOString(),
  };
}
