import { signalsOf, type AlertState } from './alert-state.js';
import type { ScalingPolicy } from './labels.js';

export { EMPTY_ALERT_STATE, type AlertState } from './alert-state.js';

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
  | 'not-due'
  /** An empty batch: no alert, nothing to do. */
  | 'unchanged';

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

/**
 * Most entries kept in each of `firing` and `steps` per function. Past it the oldest go
 * first. Why 1000: with the payload's bounds (fingerprint ≤ 32 characters, startsAt ≤ 35)
 * a full state is about 134 KB of JSON, half the 256 KiB that Kubernetes allows for all
 * annotations of a Deployment; and more distinct alerts add nothing, since even a 1 %
 * factor reaches max within 100 steps.
 */
export const ALERT_STATE_MAX_ENTRIES = 1000;

/** What one alert of a batch did, as handling the alerts one by one would have. */
export interface AlertStepOutcome {
  /** Replicas before this alert. */
  readonly from: number;
  /** Replicas after this alert. */
  readonly to: number;
  readonly reason: AlertReason;
}

/** The decision for all alerts of one notification for one function. */
export interface AlertBatchDecision {
  /** Replica count to run after the whole batch; equal to `current` when nothing changes. */
  readonly replicas: number;
  /** Reason of the last alert that changed the count, else of the last alert. */
  readonly reason: AlertReason;
  readonly state: AlertState;
  /** True when a firing alert of the batch cancelled a pending scale-down. */
  readonly cancelledScaleDown: boolean;
  /** One per signal, in order. */
  readonly outcomes: readonly AlertStepOutcome[];
  /** Index of the first signal that changed the count; -1 when none did. */
  readonly firstChange: number;
  /** Entries dropped from the state because it was over the cap (0 when none). */
  readonly evicted: { readonly firing: number; readonly steps: number };
}

/** Entries still live at `now`, oldest first (ties keep their stored order). */
function liveEntries(record: Readonly<Record<string, number>>, now: number, lifetimeMs: number): Map<string, number> {
  const live = Object.entries(record).filter(([, at]) => now - at < lifetimeMs);
  live.sort((a, b) => a[1] - b[1]);
  return new Map(live);
}

/** Drops the oldest entries until at most `max` remain; returns how many were dropped. */
function evictOldest(entries: Map<string, number>, max: number): number {
  let evicted = 0;
  for (const key of entries.keys()) {
    if (entries.size <= max) break;
    entries.delete(key);
    evicted += 1;
  }
  return evicted;
}

/** What a batch starts from; times are epoch milliseconds. */
export interface AlertBatchInput {
  readonly current: number;
  readonly policy: ScalingPolicy;
  readonly state: AlertState;
  readonly now: number;
  readonly timing: AlertTiming;
  /** Cap on each of `firing` and `steps`; default ALERT_STATE_MAX_ENTRIES. */
  readonly maxEntries?: number;
  /**
   * Whether this gateway decides for the function (owns it); default true. When false, a
   * reset to min (no scale-down window) is stored as a scale-down due `now` instead, which the
   * owner runs: two gateways of an HA pair never both remove replicas.
   */
  readonly decides?: boolean;
}

/**
 * The incremental form of `decideAlerts`, so that a caller can let the event loop turn
 * between parts of a very large batch: `add` the signals in order (in as many calls as
 * wanted), then `finish` once. No I/O and no clock: the result is the same however the
 * signals are split. O(signals + stored entries).
 */
export class AlertBatch {
  private readonly firing: Map<string, number>;
  private readonly steps: Map<string, number>;
  private readonly outcomes: AlertStepOutcome[] = [];
  private current: number;
  private scaleDownAt: number | null;
  private cancelledScaleDown = false;
  private lastReason: AlertReason = 'unchanged';
  private changeReason: AlertReason | undefined;
  private firstChange = -1;

  constructor(private readonly input: AlertBatchInput) {
    this.firing = liveEntries(input.state.firing, input.now, input.timing.firingStaleMs);
    this.steps = liveEntries(input.state.steps, input.now, input.timing.cooldownMs);
    this.current = input.current;
    this.scaleDownAt = input.state.scaleDownAt;
  }

  /** Decides the next signals, in order, as if each were handled after the previous one. */
  add(signals: readonly AlertSignal[]): this {
    for (const signal of signals) {
      const from = this.current;
      const { replicas, reason } = signal.status === 'resolved' ? this.resolve(signal) : this.fire(signal);
      if (replicas !== from) {
        this.changeReason = reason;
        if (this.firstChange < 0) this.firstChange = this.outcomes.length;
      }
      this.outcomes.push({ from, to: replicas, reason });
      this.lastReason = reason;
      this.current = replicas;
    }
    return this;
  }

  /** The decision for every signal added; evicts the oldest entries past the cap. */
  finish(): AlertBatchDecision {
    const max = this.input.maxEntries ?? ALERT_STATE_MAX_ENTRIES;
    const evicted = { firing: evictOldest(this.firing, max), steps: evictOldest(this.steps, max) };
    return {
      replicas: this.current,
      reason: this.changeReason ?? this.lastReason,
      // Holds and values are the alert signals' (src/policy/alert-signals.ts): carried over as stored.
      state: { firing: Object.fromEntries(this.firing), scaleDownAt: this.scaleDownAt, steps: Object.fromEntries(this.steps), ...signalsOf(this.input.state) },
      cancelledScaleDown: this.cancelledScaleDown,
      outcomes: this.outcomes,
      firstChange: this.firstChange,
      evicted,
    };
  }

  private resolve(signal: AlertSignal): { replicas: number; reason: AlertReason } {
    const { policy, now } = this.input;
    const current = this.current;
    this.firing.delete(signal.fingerprint);
    this.scaleDownAt = null;
    if (policy.minReplicas === policy.maxReplicas) return { replicas: current, reason: 'fixed' };
    if (this.firing.size > 0) return { replicas: current, reason: 'still-firing' };
    if (current <= policy.minReplicas) return { replicas: current, reason: 'at-min' };
    if (policy.scaleDownWindowMs <= 0 && this.input.decides !== false) return { replicas: policy.minReplicas, reason: 'reset-to-min' };
    this.scaleDownAt = now + Math.max(0, policy.scaleDownWindowMs);
    return { replicas: current, reason: 'scale-down-scheduled' };
  }

  private fire(signal: AlertSignal): { replicas: number; reason: AlertReason } {
    const { policy, now } = this.input;
    const current = this.current;
    // Re-inserted so that the map stays ordered oldest first.
    this.firing.delete(signal.fingerprint);
    this.firing.set(signal.fingerprint, now);
    if (this.scaleDownAt !== null) this.cancelledScaleDown = true;
    this.scaleDownAt = null;
    if (policy.minReplicas === policy.maxReplicas) return { replicas: current, reason: 'fixed' };
    if (policy.factorPercent === 0) return { replicas: current, reason: 'factor-zero' };
    const occurrence = `${signal.fingerprint}@${signal.startsAt}`;
    if (this.steps.has(occurrence)) return { replicas: current, reason: 'duplicate' };
    this.steps.set(occurrence, now);
    const stepped = Math.max(current + stepSize(policy), policy.minReplicas);
    const replicas = Math.min(stepped, policy.maxReplicas);
    if (current >= policy.maxReplicas && replicas === current) return { replicas, reason: 'at-max' };
    return { replicas, reason: stepped > policy.maxReplicas ? 'capped-at-max' : 'step-up' };
  }
}

/**
 * Decides what all alerts of one notification do to one function with `current` desired
 * replicas, in one pass: the same counts and reasons as deciding them one by one (each
 * distinct firing occurrence steps once, capped at max), one state to save, one count to
 * apply. O(signals + stored entries); each of `firing` and `steps` keeps at most
 * `maxEntries` (default ALERT_STATE_MAX_ENTRIES), the oldest evicted. Pure.
 */
export function decideAlerts(input: AlertBatchInput & { readonly signals: readonly AlertSignal[] }): AlertBatchDecision {
  return new AlertBatch(input).add(input.signals).finish();
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
  const { signal, ...rest } = input;
  const batch = decideAlerts({ ...rest, signals: [signal] });
  return { replicas: batch.replicas, reason: batch.reason, state: batch.state, cancelledScaleDown: batch.cancelledScaleDown };
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
    state: { firing, scaleDownAt, steps, ...signalsOf(state) },
    cancelledScaleDown: false,
  });
  if (state.scaleDownAt === null || now < state.scaleDownAt) return result(current, 'not-due', state.scaleDownAt);
  if (Object.keys(firing).length > 0) return result(current, 'still-firing', null);
  if (current <= policy.minReplicas) return result(current, 'at-min', null);
  return result(policy.minReplicas, 'reset-to-min', null);
}
