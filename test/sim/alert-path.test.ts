import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import type { AlertSignal } from '../../src/policy/alert-step.js';
import { AlertPath, prometheusRate } from '../../src/sim/alert-path.js';
import { OPENFAAS_ALERTING, type AlertingModel } from '../../src/sim/alerting.js';
import { packageRoot } from '../../src/bootstrap.js';
import { shippedAlerting } from '../../src/sim/alerting.js';

describe('prometheusRate', () => {
  it('is the increase over the window when samples sit at its edges', () => {
    // Samples every 5 s, 10 per sample: 2/s. Window (0, 20]: samples at 5..20, extrapolated to the start by 5 s.
    const samples = [0, 5, 10, 15, 20].map((s) => ({ t: s * 1000, v: s * 2 }));
    expect(prometheusRate(samples, 20_000, 20_000)).toBeCloseTo(2, 6);
  });

  it('extrapolates half a gap at an edge farther than 1.1 gaps, and never past the counter zero', () => {
    // Window (0, 20], samples at 12 s (v 10) and 17 s (v 20): increase 10 over 5 s sampled;
    // to the start 12 s > 5.5 s → 2.5 s; but the zero point is 5 s × 10/10 = 5 s back, so 2.5 s stays;
    // to the end 3 s < 5.5 s → 3 s. Rate = 10 × (5 + 2.5 + 3) / 5 / 20 = 1.05.
    expect(prometheusRate([{ t: 12_000, v: 10 }, { t: 17_000, v: 20 }], 20_000, 20_000)).toBeCloseTo(1.05, 6);
    // Counter from 0: samples at 12 s (v 0) and 17 s (v 10) → zero point at 12 s itself.
    expect(prometheusRate([{ t: 12_000, v: 0 }, { t: 17_000, v: 10 }], 20_000, 20_000)).toBeCloseTo((10 * (5 + 0 + 3)) / 5 / 20, 6);
  });

  it('has no value with fewer than two samples in the window (left edge excluded)', () => {
    expect(prometheusRate([{ t: 0, v: 1 }, { t: 10_000, v: 5 }], 10_000, 10_000)).toBeNull();
    expect(prometheusRate([], 10_000, 10_000)).toBeNull();
  });
});

describe('shipped alerting settings', () => {
  it('are read from alert-rules/, deploy/prometheus/ and deploy/alertmanager.yml', () => {
    expect(shippedAlerting(packageRoot())).toEqual({
      name: 'alert-scaler',
      scrapeIntervalMs: 1_000,
      evaluationIntervalMs: 1_000,
      rateWindowMs: 20_000,
      threshold: 5,
      forMs: 0,
      groupWaitMs: 1_000,
      groupIntervalMs: 5_000,
      repeatIntervalMs: 60_000,
      counts: 'started',
      waitingBranch: true,
    });
  });
});

/** Drives an AlertPath with `rate` calls/s served while `on(t)` and returns what the webhook got, with times. */
function drive(model: AlertingModel, on: (t: number) => boolean, rate: number, untilMs: number): Array<{ t: number; status: string; startsAt: string }> {
  const clock = new VirtualClock(0);
  const got: Array<{ t: number; status: string; startsAt: string }> = [];
  const path = new AlertPath({
    model,
    clock,
    functions: [0],
    names: ['fn'],
    endMs: () => untilMs,
    deliver: (_fn, signal: AlertSignal) => got.push({ t: clock.now(), status: signal.status, startsAt: signal.startsAt }),
  });
  path.start();
  const gap = 1000 / rate;
  const call = () => {
    if (on(clock.now())) path.served(0);
    if (clock.now() + gap <= untilMs) clock.setTimeout(call, gap);
  };
  clock.setTimeout(call, gap);
  clock.advance(untilMs);
  return got;
}

describe('AlertPath', () => {
  it('OpenFaaS stock: a load of 20/s from 60 s fires at the second evaluation after it and notifies after group_wait', () => {
    const got = drive(OPENFAAS_ALERTING, (t) => t >= 60_000 && t < 200_000, 20, 300_000);
    // Eval at 75 s sees the rise (pending), at 90 s it has held `for` 5 s (firing); group_wait 5 s → 95 s.
    expect(got[0]).toEqual({ t: 95_000, status: 'firing', startsAt: new Date(75_000).toISOString() });
    // Repeats at the first group_interval tick (10 s) past repeat_interval (30 s) while it
    // fires: at 125 s the log entry of 95 s is exactly 30 s old, not older, so 135 s.
    expect(got.filter((g) => g.status === 'firing').map((g) => g.t).slice(0, 3)).toEqual([95_000, 135_000, 175_000]);
    const resolved = got.find((g) => g.status === 'resolved');
    expect(resolved?.t).toBeGreaterThan(200_000);
    expect(resolved?.t).toBeLessThanOrEqual(200_000 + 15_000 + 10_000 + 15_000);
  });

  it('at 1 s intervals a flush runs after the evaluation of the same instant: the resolve goes out at the evaluation that saw the rate fall', () => {
    const model: AlertingModel = { name: 'fast', scrapeIntervalMs: 1000, evaluationIntervalMs: 1000, rateWindowMs: 5000, threshold: 5, forMs: 2000, groupWaitMs: 1000, groupIntervalMs: 1000, repeatIntervalMs: 3_600_000, counts: 'completed', waitingBranch: false };
    const got = drive(model, (t) => t >= 5_000 && t < 37_000, 25, 50_000);
    // Pending at 7 s (window (2, 7]: 38 calls from zero), firing at 9 s, sent after group_wait.
    // At 41 s the window (36, 41] holds 12 calls over 4 s sampled (3/s): inactive, and the
    // group's tick of 41 s, a moment after that evaluation in Alertmanager, sends the resolve.
    expect(got.map((g) => [g.t, g.status])).toEqual([
      [10_000, 'firing'],
      [41_000, 'resolved'],
    ]);
  });

  it('a rise shorter than `for` never notifies', () => {
    const model: AlertingModel = { ...OPENFAAS_ALERTING, forMs: 60_000 };
    expect(drive(model, (t) => t >= 60_000 && t < 90_000, 20, 200_000)).toEqual([]);
  });

  it('a load under the threshold never notifies', () => {
    expect(drive(OPENFAAS_ALERTING, () => true, 4, 200_000)).toEqual([]);
  });
});

describe('AlertPath reads what the rule counts', () => {
  const base: AlertingModel = { name: 'demand', scrapeIntervalMs: 1000, evaluationIntervalMs: 1000, rateWindowMs: 10_000, threshold: 5, forMs: 0, groupWaitMs: 1000, groupIntervalMs: 1000, repeatIntervalMs: 3_600_000, counts: 'started', waitingBranch: true };

  /** 16 calls/s arrive from 0 s; `completes` of them are answered 200; `queue(t)` calls wait busy. */
  function run(model: AlertingModel, completes: number, queue: (t: number) => number, untilMs: number): Array<{ t: number; status: string }> {
    const clock = new VirtualClock(0);
    const got: Array<{ t: number; status: string }> = [];
    const path = new AlertPath({ model, clock, functions: [0], names: ['fn'], endMs: () => untilMs, waiting: () => queue(clock.now()), deliver: (_fn, signal) => got.push({ t: clock.now(), status: signal.status }) });
    path.start();
    let n = 0;
    const call = () => {
      path.started(0);
      if (n++ % 16 < completes) path.served(0);
      if (clock.now() + 62.5 <= untilMs) clock.setTimeout(call, 62.5);
    };
    clock.setTimeout(call, 62.5);
    clock.advance(untilMs);
    return got;
  }

  it('a saturated function (16/s arrive, 4/s complete) fires on started calls, never on completed ones', () => {
    expect(run({ ...base, waitingBranch: false }, 4, () => 0, 30_000)[0]?.status).toBe('firing');
    expect(run({ ...base, counts: 'completed', waitingBranch: false }, 4, () => 0, 30_000)).toEqual([]);
  });

  it('the waiting branch fires once calls waited busy at every scrape of a window on a series that old', () => {
    const model: AlertingModel = { ...base, counts: 'completed' };
    // The queue appears at 5 s and never empties: the series is a window old at 15 s.
    const got = run(model, 1, (t) => (t >= 5_000 ? 3 : 0), 40_000);
    expect(got[0]?.status).toBe('firing');
    expect(got[0]?.t).toBeGreaterThanOrEqual(15_000);
    expect(got[0]?.t).toBeLessThanOrEqual(18_000);
  });

  it('a queue empty at one scrape in every window never fires the waiting branch', () => {
    const model: AlertingModel = { ...base, counts: 'completed' };
    expect(run(model, 1, (t) => (Math.floor(t / 1000) % 8 === 0 ? 0 : 3), 60_000)).toEqual([]);
  });
});
