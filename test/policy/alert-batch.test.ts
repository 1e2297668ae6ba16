import { describe, expect, it } from '@jest/globals';
import { AlertBatch, ALERT_STATE_MAX_ENTRIES, decideAlerts, EMPTY_ALERT_STATE, type AlertReason, type AlertSignal, type AlertState } from '../../src/policy/alert-step.js';
import type { ScalingPolicy } from '../../src/policy/labels.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { Random } from '../../src/sim/random.js';

const timing = { cooldownMs: 10_000, firingStaleMs: 3_600_000 };

/**
 * The one-alert-at-a-time decision as it was before batches (issue 8), kept as the model
 * that a batch must reproduce exactly: the same counts, reasons and stored state.
 */
function referenceDecide(current: number, policy: ScalingPolicy, state: AlertState, signal: AlertSignal, now: number): { replicas: number; reason: AlertReason; state: AlertState } {
  const firing: Record<string, number> = {};
  for (const [k, v] of Object.entries(state.firing)) if (now - v < timing.firingStaleMs) firing[k] = v;
  const steps: Record<string, number> = {};
  for (const [k, v] of Object.entries(state.steps)) if (now - v < timing.cooldownMs) steps[k] = v;
  const fixed = policy.minReplicas === policy.maxReplicas;
  if (signal.status === 'resolved') {
    delete firing[signal.fingerprint];
    const keep = (reason: AlertReason, scaleDownAt: number | null) => ({ replicas: current, reason, state: { firing, scaleDownAt, steps } });
    if (fixed) return keep('fixed', null);
    if (Object.keys(firing).length > 0) return keep('still-firing', null);
    if (current <= policy.minReplicas) return keep('at-min', null);
    if (policy.scaleDownWindowMs <= 0) return { replicas: policy.minReplicas, reason: 'reset-to-min', state: { firing, scaleDownAt: null, steps } };
    return keep('scale-down-scheduled', now + policy.scaleDownWindowMs);
  }
  firing[signal.fingerprint] = now;
  const unchanged = (reason: AlertReason) => ({ replicas: current, reason, state: { firing, scaleDownAt: null, steps } });
  if (fixed) return unchanged('fixed');
  if (policy.factorPercent === 0) return unchanged('factor-zero');
  const occurrence = `${signal.fingerprint}@${signal.startsAt}`;
  if (steps[occurrence] !== undefined) return unchanged('duplicate');
  steps[occurrence] = now;
  const stepped = Math.max(current + Math.ceil((policy.maxReplicas * policy.factorPercent) / 100), policy.minReplicas);
  const replicas = Math.min(stepped, policy.maxReplicas);
  let reason: AlertReason = 'step-up';
  if (current >= policy.maxReplicas && replicas === current) reason = 'at-max';
  else if (stepped > policy.maxReplicas) reason = 'capped-at-max';
  return { replicas, reason, state: { firing, scaleDownAt: null, steps } };
}

/** The simulator's seeded generator: every run checks the same cases. */
function random(seed: number): () => number {
  const rng = new Random(seed);
  return () => rng.next();
}

describe('a batch of alerts for one function', () => {
  it('gives the same counts, reasons and state as the one-by-one decision, over 2,000 seeded batches', () => {
    const next = random(8);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
    for (let run = 0; run < 2000; run++) {
      const max = 1 + Math.floor(next() * 12);
      const min = Math.floor(next() * (max + 1));
      const policy: ScalingPolicy = { ...DEFAULT_POLICY, minReplicas: min, maxReplicas: max, factorPercent: pick([0, 10, 20, 50, 100]), scaleDownWindowMs: pick([0, 30_000]) };
      const now = 1_000_000;
      const stored: AlertState = {
        firing: next() < 0.5 ? {} : { f1: now - pick([1, timing.firingStaleMs + 1]), old: now - timing.firingStaleMs - 5 },
        scaleDownAt: next() < 0.3 ? now + 5000 : null,
        steps: next() < 0.5 ? {} : { [`f2@${'t0'}`]: now - pick([1, timing.cooldownMs]) },
      };
      const signals: AlertSignal[] = Array.from({ length: 1 + Math.floor(next() * 12) }, () => ({
        status: next() < 0.7 ? 'firing' : 'resolved',
        fingerprint: pick(['f1', 'f2', 'f3', 'f4']),
        startsAt: pick(['t0', 't1']),
      }));
      let current = Math.floor(next() * (max + 3));
      const start = current;
      let state = stored;
      const expected: Array<{ from: number; to: number; reason: AlertReason }> = [];
      for (const signal of signals) {
        const one = referenceDecide(current, policy, state, signal, now);
        expected.push({ from: current, to: one.replicas, reason: one.reason });
        current = one.replicas;
        state = one.state;
      }
      const batch = decideAlerts({ current: start, policy, state: stored, signals, now, timing });
      expect(batch.outcomes).toEqual(expected);
      expect(batch.replicas).toBe(current);
      expect(batch.state).toEqual(state);
    }
  });

  it('several distinct firing alerts step once each, capped at max, and the batch reason is the last change', () => {
    const signals = ['a', 'b', 'c', 'd', 'e', 'f'].map((fingerprint) => ({ status: 'firing' as const, fingerprint, startsAt: 't0' }));
    const batch = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals, now: 1000, timing });
    expect(batch.outcomes.map((o) => o.to)).toEqual([5, 9, 13, 17, 20, 20]);
    expect(batch.outcomes.map((o) => o.reason)).toEqual(['step-up', 'step-up', 'step-up', 'step-up', 'capped-at-max', 'at-max']);
    expect(batch.replicas).toBe(20);
    expect(batch.reason).toBe('capped-at-max');
    expect(batch.firstChange).toBe(0);
  });

  it('the same occurrence twice in one batch steps once', () => {
    const signal = { status: 'firing' as const, fingerprint: 'a', startsAt: 't0' };
    const batch = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals: [signal, signal], now: 1000, timing });
    expect(batch.outcomes.map((o) => o.reason)).toEqual(['step-up', 'duplicate']);
    expect(batch.replicas).toBe(5);
  });

  it('an empty batch changes nothing', () => {
    const batch = decideAlerts({ current: 3, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals: [], now: 1000, timing });
    expect(batch).toMatchObject({ replicas: 3, reason: 'unchanged', outcomes: [], firstChange: -1, evicted: { firing: 0, steps: 0 } });
  });

  it('splitting the signals over several add() calls gives the same decision', () => {
    const signals = Array.from({ length: 3000 }, (_, i) => ({ status: i % 7 === 0 ? ('resolved' as const) : ('firing' as const), fingerprint: `f${i % 1500}`, startsAt: 't0' }));
    const whole = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals, now: 1000, timing });
    const split = new AlertBatch({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, now: 1000, timing });
    for (let i = 0; i < signals.length; i += 250) split.add(signals.slice(i, i + 250));
    expect(split.finish()).toEqual(whole);
  });
});

describe('the stored state is bounded per function', () => {
  const flood = (count: number, offset = 0): AlertSignal[] => Array.from({ length: count }, (_, i) => ({ status: 'firing', fingerprint: `f${offset + i}`, startsAt: 't0' }));

  it('10,000 distinct alerts keep the newest 1,000 of firing and of steps, and count the evictions', () => {
    const batch = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals: flood(10_000), now: 1000, timing });
    expect(ALERT_STATE_MAX_ENTRIES).toBe(1000);
    expect(Object.keys(batch.state.firing)).toEqual(Array.from({ length: 1000 }, (_, i) => `f${9000 + i}`));
    expect(Object.keys(batch.state.steps)).toHaveLength(1000);
    expect(batch.state.steps['f9999@t0']).toBe(1000);
    expect(batch.evicted).toEqual({ firing: 9000, steps: 9000 });
  });

  it('the oldest entries go first, whatever their order in the stored record', () => {
    const state: AlertState = { firing: { new: 900, '7': 100, mid: 500 }, scaleDownAt: null, steps: {} };
    const batch = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state, signals: flood(1), now: 1000, timing, maxEntries: 3 });
    expect(Object.keys(batch.state.firing).sort()).toEqual(['f0', 'mid', 'new']);
    expect(batch.evicted.firing).toBe(1);
  });

  it('an alert seen again is the newest, so it is kept over one seen earlier', () => {
    const first = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: EMPTY_ALERT_STATE, signals: flood(3), now: 1000, timing, maxEntries: 3 });
    const again = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: first.state, signals: [...flood(1), ...flood(1, 10)], now: 2000, timing, maxEntries: 3 });
    expect(Object.keys(again.state.firing).sort()).toEqual(['f0', 'f10', 'f2']);
  });

  it('a stored state over the cap (written before the cap existed) is brought back to the cap', () => {
    const firing = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`s${i}`, i]));
    const batch = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state: { firing, scaleDownAt: null, steps: {} }, signals: flood(1), now: 10_000, timing });
    expect(Object.keys(batch.state.firing)).toHaveLength(1000);
    expect(batch.state.firing['s4999']).toBe(4999);
    expect(batch.state.firing['s0']).toBeUndefined();
    expect(batch.evicted.firing).toBe(4001);
  });

  it('expired entries are dropped, not evicted', () => {
    const state: AlertState = { firing: { gone: 0 }, scaleDownAt: null, steps: { 'gone@t0': 0 } };
    const batch = decideAlerts({ current: 1, policy: DEFAULT_POLICY, state, signals: flood(1), now: timing.firingStaleMs, timing });
    expect(batch.state).toEqual({ firing: { f0: timing.firingStaleMs }, scaleDownAt: null, steps: { 'f0@t0': timing.firingStaleMs } });
    expect(batch.evicted).toEqual({ firing: 0, steps: 0 });
  });
});
