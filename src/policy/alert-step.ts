import type { ScalingPolicy } from './labels.js';

/**
 * Per-function alert state. Plain JSON so it can be stored anywhere (memory, an annotation).
 * Times are epoch milliseconds.
 */
export interface AlertState {
  /** Alerts currently firing for the function: fingerprint → last time it was seen firing. */
  readonly firing: Readonly<Record<string, number>>;
  /** When the function returns to min; null when no scale-down is pending. */
  readonly scaleDownAt: number | null;
  /** Last step per alert occurrence (`fingerprint@startsAt`) → time of that step. */
  readonly steps: Readonly<Record<string, number>>;
}

export const EMPTY_ALERT_STATE: AlertState = Object.freeze({ firing: {}, scaleDownAt: null, steps: {} });

/** One alert from a notification, reduced to what the policy needs. */
export interface AlertSignal {
  readonly status: 'firing' | 'resolved';
  readonly fingerprint: string;
  readonly startsAt: string;
}

export type AlertReason =
  | 'step-up'
  | 'capped-at-max'
  | 'at-max'
  | 'fixed'
  | 'factor-zero'
  | 'duplicate'
  | 'scale-down-scheduled'
  | 'still-firing'
  | 'at-min'
  | 'reset-to-min'
  | 'not-due';

export interface AlertDecision {
  /** Replica count to run; equal to `current` when nothing changes. */
  readonly replicas: number;
  readonly reason: AlertReason;
  readonly state: AlertState;
  /** True when this firing alert cancelled a pending scale-down. */
  readonly cancelledScaleDown: boolean;
}

export interface AlertTiming {
  /** An alert occurrence steps at most once per cooldown. */
  readonly cooldownMs: number;
  /** A firing alert not seen again for this long no longer blocks a scale-down. */
  readonly firingStaleMs: number;
}

/** Step size for one firing alert: ceil(max × factor / 100). */
export function stepSize(policy: ScalingPolicy): number {
  return Math.ceil((policy.maxReplicas * policy.factorPercent) / 100);
}

function liveFiring(firing: Readonly<Record<string, number>>, now: number, staleMs: number): Record<string, number> {
  const live: Record<string, number> = {};
  for (const [fingerprint, seen] of Object.entries(firing)) {
    if (now - seen < staleMs) live[fingerprint] = seen;
  }
  return live;
}

function recentSteps(steps: Readonly<Record<string, number>>, now: number, cooldownMs: number): Record<string, number> {
  const recent: Record<string, number> = {};
  for (const [key, at] of Object.entries(steps)) {
    if (now - at < cooldownMs) recent[key] = at;
  }
  return recent;
}

/** Decides what one alert does to a function with `current` desired replicas. Pure. */
export function decideAlert(input: {
  readonly current: number;
  readonly policy: ScalingPolicy;
  readonly state: AlertState;
  readonly signal: AlertSignal;
  readonly now: number;
  readonly timing: AlertTiming;
}): AlertDecision {
  const { current, policy, signal, now, timing } = input;
  const firing = liveFiring(input.state.firing, now, timing.firingStaleMs);
  const steps = recentSteps(input.state.steps, now, timing.cooldownMs);
  const fixed = policy.minReplicas === policy.maxReplicas;

  if (signal.status === 'resolved') {
    delete firing[signal.fingerprint];
    const keep = (reason: AlertReason, scaleDownAt: number | null): AlertDecision => ({
      replicas: current,
      reason,
      state: { firing, scaleDownAt, steps },
      cancelledScaleDown: false,
    });
    if (fixed) return keep('fixed', null);
    if (Object.keys(firing).length > 0) return keep('still-firing', null);
    if (current <= policy.minReplicas) return keep('at-min', null);
    if (policy.scaleDownWindowMs <= 0) {
      return { replicas: policy.minReplicas, reason: 'reset-to-min', state: { firing, scaleDownAt: null, steps }, cancelledScaleDown: false };
    }
    return keep('scale-down-scheduled', now + policy.scaleDownWindowMs);
  }

  firing[signal.fingerprint] = now;
  const cancelledScaleDown = input.state.scaleDownAt !== null;
  const unchanged = (reason: AlertReason): AlertDecision => ({
    replicas: current,
    reason,
    state: { firing, scaleDownAt: null, steps },
    cancelledScaleDown,
  });
  if (fixed) return unchanged('fixed');
  if (policy.factorPercent === 0) return unchanged('factor-zero');
  const occurrence = `${signal.fingerprint}@${signal.startsAt}`;
  if (steps[occurrence] !== undefined) return unchanged('duplicate');

  steps[occurrence] = now;
  const stepped = Math.max(current + stepSize(policy), policy.minReplicas);
  const replicas = Math.min(stepped, policy.maxReplicas);
  let reason: AlertReason = 'step-up';
  if (current >= policy.maxReplicas && replicas === current) reason = 'at-max';
  else if (stepped > policy.maxReplicas) reason = 'capped-at-max';
  return { replicas, reason, state: { firing, scaleDownAt: null, steps }, cancelledScaleDown };
}

/** Decides whether a pending scale-down is due at `now`. Pure. */
export function decideScaleDown(input: {
  readonly current: number;
  readonly policy: ScalingPolicy;
  readonly state: AlertState;
  readonly now: number;
  readonly timing: AlertTiming;
}): AlertDecision {
  const { current, policy, state, now, timing } = input;
  const firing = liveFiring(state.firing, now, timing.firingStaleMs);
  const steps = recentSteps(state.steps, now, timing.cooldownMs);
  const result = (replicas: number, reason: AlertReason, scaleDownAt: number | null): AlertDecision => ({
    replicas,
    reason,
    state: { firing, scaleDownAt, steps },
    cancelledScaleDown: false,
  });
  if (state.scaleDownAt === null || now < state.scaleDownAt) return result(current, 'not-due', state.scaleDownAt);
  if (Object.keys(firing).length > 0) return result(current, 'still-firing', null);
  if (current <= policy.minReplicas) return result(current, 'at-min', null);
  return result(policy.minReplicas, 'reset-to-min', null);
}
