import { describe, expect, it } from '@jest/globals';
import { decideAlert, decideAlerts, decideScaleDown, EMPTY_ALERT_STATE, stepSize, type AlertState } from '../../src/policy/alert-step.js';
import type { ScalingPolicy } from '../../src/policy/labels.js';
import { DEFAULT_POLICY } from '../support/policy.js';

const DEFAULTS = DEFAULT_POLICY;
const timing = { cooldownMs: 10_000, firingStaleMs: 3_600_000 };
const firing = (fingerprint = 'fp1', startsAt = 't0') => ({ status: 'firing' as const, fingerprint, startsAt });
const resolved = (fingerprint = 'fp1', startsAt = 't0') => ({ status: 'resolved' as const, fingerprint, startsAt });

describe('firing alerts', () => {
  const rows: Array<[string, number, Partial<ScalingPolicy>, number, string]> = [
    ['1 → 5 with defaults', 1, {}, 5, 'step-up'],
    ['5 → 9 with defaults', 5, {}, 9, 'step-up'],
    ['17 → 20 capped', 17, {}, 20, 'capped-at-max'],
    ['firing at max stays at max', 20, {}, 20, 'at-max'],
    ['above max comes back to max', 25, {}, 20, 'capped-at-max'],
    ['min == max unchanged', 3, { minReplicas: 3, maxReplicas: 3 }, 3, 'fixed'],
    ['min == max unchanged even when current differs', 1, { minReplicas: 4, maxReplicas: 4 }, 1, 'fixed'],
    ['factor 0 never scales up', 2, { factorPercent: 0 }, 2, 'factor-zero'],
    ['factor 100 jumps to max', 1, { factorPercent: 100 }, 20, 'capped-at-max'],
    ['never below min', 0, { minReplicas: 8, maxReplicas: 10, factorPercent: 10 }, 8, 'step-up'],
    ['step rounds up (max 3, factor 10 → 1)', 1, { maxReplicas: 3, factorPercent: 10 }, 2, 'step-up'],
    ['from zero with min 0', 0, { minReplicas: 0 }, 4, 'step-up'],
  ];
  it.each(rows)('%s', (_name, current, policy, expected, reason) => {
    const decision = decideAlert({ current, policy: { ...DEFAULTS, ...policy }, state: EMPTY_ALERT_STATE, signal: firing(), now: 1000, timing });
    expect(decision.replicas).toBe(expected);
    expect(decision.reason).toBe(reason);
  });

  it('step size is ceil(max × factor / 100)', () => {
    expect(stepSize(DEFAULTS)).toBe(4);
    expect(stepSize({ ...DEFAULTS, maxReplicas: 7, factorPercent: 30 })).toBe(3);
  });

  it('the same alert within the cooldown does not step twice', () => {
    const first = decideAlert({ current: 1, policy: DEFAULTS, state: EMPTY_ALERT_STATE, signal: firing(), now: 1000, timing });
    const again = decideAlert({ current: first.replicas, policy: DEFAULTS, state: first.state, signal: firing(), now: 1000 + 9_999, timing });
    expect(again.replicas).toBe(5);
    expect(again.reason).toBe('duplicate');
  });

  it('a repeat of the same alert after the cooldown steps again (long burst)', () => {
    const first = decideAlert({ current: 1, policy: DEFAULTS, state: EMPTY_ALERT_STATE, signal: firing(), now: 1000, timing });
    const repeat = decideAlert({ current: first.replicas, policy: DEFAULTS, state: first.state, signal: firing(), now: 1000 + 10_000, timing });
    expect(repeat.replicas).toBe(9);
    expect(repeat.reason).toBe('step-up');
  });

  it('a different alert occurrence within the cooldown steps', () => {
    const first = decideAlert({ current: 1, policy: DEFAULTS, state: EMPTY_ALERT_STATE, signal: firing('fp1'), now: 1000, timing });
    const other = decideAlert({ current: first.replicas, policy: DEFAULTS, state: first.state, signal: firing('fp2'), now: 1001, timing });
    expect(other.replicas).toBe(9);
    const restarted = decideAlert({ current: other.replicas, policy: DEFAULTS, state: other.state, signal: firing('fp1', 't1'), now: 1002, timing });
    expect(restarted.replicas).toBe(13);
  });

  it('old step records are pruned so state stays bounded', () => {
    const first = decideAlert({ current: 1, policy: DEFAULTS, state: EMPTY_ALERT_STATE, signal: firing('fp1'), now: 1000, timing });
    const later = decideAlert({ current: 5, policy: DEFAULTS, state: first.state, signal: firing('fp2'), now: 1000 + 60_000, timing });
    expect(Object.keys(later.state.steps)).toEqual(['fp2@t0']);
  });
});

describe('resolved alerts and the scale-down window', () => {
  it('resolved schedules the return to min after the window, not at once', () => {
    const up = decideAlert({ current: 1, policy: DEFAULTS, state: EMPTY_ALERT_STATE, signal: firing(), now: 1000, timing });
    const res = decideAlert({ current: 5, policy: DEFAULTS, state: up.state, signal: resolved(), now: 2000, timing });
    expect(res.replicas).toBe(5);
    expect(res.reason).toBe('scale-down-scheduled');
    expect(res.state.scaleDownAt).toBe(32_000);

    const early = decideScaleDown({ current: 5, policy: DEFAULTS, state: res.state, now: 31_999, timing });
    expect(early.replicas).toBe(5);
    expect(early.reason).toBe('not-due');

    const due = decideScaleDown({ current: 5, policy: DEFAULTS, state: res.state, now: 32_000, timing });
    expect(due.replicas).toBe(1);
    expect(due.reason).toBe('reset-to-min');
    expect(due.state.scaleDownAt).toBeNull();
  });

  it('a firing alert inside the window cancels the scale-down', () => {
    const res = decideAlert({ current: 5, policy: DEFAULTS, state: { firing: { fp1: 0 }, scaleDownAt: null, steps: {} }, signal: resolved(), now: 2000, timing });
    const fire = decideAlert({ current: 5, policy: DEFAULTS, state: res.state, signal: firing('fp1', 't1'), now: 10_000, timing });
    expect(fire.cancelledScaleDown).toBe(true);
    expect(fire.state.scaleDownAt).toBeNull();
    const later = decideScaleDown({ current: fire.replicas, policy: DEFAULTS, state: fire.state, now: 100_000, timing });
    expect(later.replicas).toBe(9);
    expect(later.reason).toBe('not-due');
  });

  it('no scale-down while another alert for the function is still firing', () => {
    const state: AlertState = { firing: { fp1: 1000, fp2: 1000 }, scaleDownAt: null, steps: {} };
    const res = decideAlert({ current: 9, policy: DEFAULTS, state, signal: resolved('fp1'), now: 2000, timing });
    expect(res.reason).toBe('still-firing');
    expect(res.state.scaleDownAt).toBeNull();
    const last = decideAlert({ current: 9, policy: DEFAULTS, state: res.state, signal: resolved('fp2'), now: 3000, timing });
    expect(last.reason).toBe('scale-down-scheduled');
  });

  it('a firing alert never re-sent for the stale time no longer blocks the scale-down', () => {
    const state: AlertState = { firing: { lost: 0 }, scaleDownAt: null, steps: {} };
    const res = decideAlert({ current: 9, policy: DEFAULTS, state, signal: resolved('fp1'), now: timing.firingStaleMs + 1, timing });
    expect(res.reason).toBe('scale-down-scheduled');
  });

  const rows: Array<[string, number, Partial<ScalingPolicy>, number, string]> = [
    ['resolved at min stays at min', 1, {}, 1, 'at-min'],
    ['resolved below min (scaled to zero) does not wake it', 0, { minReplicas: 1 }, 0, 'at-min'],
    ['resolved with min == max unchanged', 3, { minReplicas: 3, maxReplicas: 3 }, 3, 'fixed'],
    ['resolved with a zero window returns to min at once', 9, { scaleDownWindowMs: 0 }, 1, 'reset-to-min'],
  ];
  it.each(rows)('%s', (_name, current, policy, expected, reason) => {
    const decision = decideAlert({ current, policy: { ...DEFAULTS, ...policy }, state: EMPTY_ALERT_STATE, signal: resolved(), now: 1000, timing });
    expect(decision.replicas).toBe(expected);
    expect(decision.reason).toBe(reason);
  });

  it('resolved with a zero window at a gateway that does not decide: a scale-down due now, stored for the owner', () => {
    const decision = decideAlerts({ current: 9, policy: { ...DEFAULTS, scaleDownWindowMs: 0 }, state: EMPTY_ALERT_STATE, signals: [resolved()], now: 1000, timing, decides: false });
    expect(decision.replicas).toBe(9);
    expect(decision.reason).toBe('scale-down-scheduled');
    expect(decision.state.scaleDownAt).toBe(1000);
  });
});
