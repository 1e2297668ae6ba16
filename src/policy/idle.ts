import type { ScalingPolicy } from './labels.js';

/** Whether a function had no invocation in a window; `unknown` never leads to scale-to-zero. */
export type Idleness = 'idle' | 'busy' | 'unknown';

/** What the idler knows about one function when it decides. */
export interface IdleInput {
  /** Desired replicas now. */
  readonly current: number;
  readonly policy: Pick<ScalingPolicy, 'scaleToZero' | 'zeroDurationMs'>;
  /** The idle source's answer for the function's zero-duration window. */
  readonly idleness: Idleness;
  /** Calls this gateway holds or proxies for the function right now. */
  readonly inFlight: number;
  /** True when a call started or ended after the idleness was measured (it is stale). */
  readonly activitySince: boolean;
  /** Time since this gateway last saw the function's traffic, ms. */
  readonly idleMs: number;
}

export type IdleReason = 'idle' | 'not-opted-in' | 'at-zero' | 'in-flight' | 'recent-activity' | 'busy' | 'idleness-unknown';

/** The idler's decision: 0 replicas with reason `idle`, else the current count and why not. */
export interface IdleDecision {
  readonly replicas: number;
  readonly reason: IdleReason;
  readonly inputs: { readonly idleness: Idleness; readonly inFlight: number; readonly idleMs: number; readonly zeroDurationMs: number };
}

/**
 * Decides whether a function goes to zero. As OpenFaaS Pro: `scale.zero=true` idles the
 * function whatever its min (min is where a wake starts). Only a measured `idle` with
 * nothing in flight and no call since the measure scales to zero. Pure.
 */
export function decideIdle(input: IdleInput): IdleDecision {
  const { current, policy, idleness, inFlight, activitySince, idleMs } = input;
  const inputs = { idleness, inFlight, idleMs, zeroDurationMs: policy.zeroDurationMs };
  const keep = (reason: IdleReason): IdleDecision => ({ replicas: current, reason, inputs });
  if (!policy.scaleToZero) return keep('not-opted-in');
  if (current === 0) return keep('at-zero');
  if (inFlight > 0) return keep('in-flight');
  if (activitySince) return keep('recent-activity');
  if (idleness === 'busy') return keep('busy');
  if (idleness === 'unknown') return keep('idleness-unknown');
  return { replicas: 0, reason: 'idle', inputs };
}
