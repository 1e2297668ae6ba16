import { afterEach, describe, expect, it } from '@jest/globals';
import { findTool, startMonitoring, type MonitoringTiming } from '../../demo/stack.js';
import type { RunningScaler } from '../../src/bootstrap.js';
import { Random } from '../../src/sim/random.js';
import type { TestFunction } from '../support/harness.js';
import { closeLive, compareLiveAndSimulated, PASSWORD, USER, type Call } from './live-harness.js';

/*
 * Integration tier, issue 17's acceptance: the simulator against the live gateway on the two
 * paths live.test.ts leaves out.
 *
 * First case: an `rps` function stepped by the shipped rule through REAL Prometheus and
 * Alertmanager (short intervals) against the simulator's modelled ones with the same
 * settings; a step of load well above the threshold. Second case: a `concurrency` function
 * under Poisson load, decided by the scaler's own due times in both runs.
 */

/** The monitoring's intervals, given to the real Prometheus and Alertmanager and to the model alike. */
const TIMING: MonitoringTiming = {
  scrapeInterval: '1s',
  rateWindow: '5s',
  forDuration: '2s',
  groupWait: '1s',
  groupInterval: '1s',
  // Each repeat of the firing alert steps once more (the cooldown is shorter): a staircase
  // of 4 s. Not a multiple of group_interval: at 4 s whether the tick repeats is a race in
  // Alertmanager (its log entry, stamped after delivery, against the tick's drift).
  repeatInterval: '3500ms',
};
const MODELLED = {
  scrape_interval: TIMING.scrapeInterval,
  evaluation_interval: TIMING.scrapeInterval,
  rate_window: TIMING.rateWindow,
  for: TIMING.forDuration,
  group_wait: TIMING.groupWait,
  group_interval: TIMING.groupInterval,
  repeat_interval: TIMING.repeatInterval,
};
const RPS_ENV = { ALERT_SCALER_COOLDOWN_SECONDS: '3', ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '3' };

/** min 1, max 6, one replica per firing notification (ceil(6 × 10 %)). */
const SURGE: TestFunction = {
  labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '6', 'com.openfaas.scale.factor': '10' },
  environment: { START_DELAY_MS: '300', RESPONSE_DELAY_MS: '20' },
};
const SURGE_RUN_MS = 38_000;

/**
 * Quiet for 5 s, 25 calls/s (five times the shipped threshold of 5/s) for 20 s, then quiet:
 * the first step comes about 5 s into the load, then one every 4 s to 6 (the last while the
 * rate window still holds the load); back at min about 7 s after the load, 6 s before the end.
 */
function surgeTrace(): Call[] {
  const calls: Call[] = [];
  for (let t = 5_000; t < 25_000; t += 40) calls.push({ timeMs: t, name: 'surge' });
  return calls;
}

/** Knative-style: 2 requests in flight per replica, a 6 s stable window (600 ms panic window). */
const POOL: TestFunction = {
  labels: {
    'com.openfaas.scale.type': 'concurrency',
    'com.openfaas.scale.target': '2',
    'com.openfaas.scale.window': '6s',
    'com.openfaas.scale.min': '1',
    'com.openfaas.scale.max': '8',
  },
  environment: { START_DELAY_MS: '300', RESPONSE_DELAY_MS: '250' },
};
const POOL_RUN_MS = 24_000;

/**
 * Poisson arrivals (seeded): about 1, 5, 7.5 and 1 requests in flight in turn, each phase
 * long enough for the 6 s window to follow it (up to 4 within 3 s, down to 2 or less
 * within 5 s after the load).
 */
function poolTrace(): Call[] {
  const random = new Random(17);
  const phases = [
    { until: 4_000, perSecond: 4 },
    { until: 10_000, perSecond: 20 },
    { until: 16_000, perSecond: 30 },
    { until: 20_000, perSecond: 4 },
  ];
  const calls: Call[] = [];
  let t = 0;
  for (const phase of phases) {
    for (;;) {
      t += random.exponential(1000 / phase.perSecond);
      if (t >= phase.until) break;
      calls.push({ timeMs: Math.round(t), name: 'pool' });
    }
    t = phase.until;
  }
  return calls;
}

/** Real Prometheus and Alertmanager on loopback, scraping `gateway` and posting to its webhook. */
async function monitoring(gateway: RunningScaler): Promise<() => Promise<void>> {
  const missing = (['prometheus', 'alertmanager'] as const).filter((tool) => findTool(tool) === null);
  if (missing.length > 0) throw new Error(`${missing.join(' and ')} not found on PATH: this test needs them (apt-get install prometheus prometheus-alertmanager)`);
  const started = await startMonitoring({ gateway: new URL(gateway.url).host, admin: new URL(gateway.adminUrl).host, basicAuth: { user: USER, password: PASSWORD }, timing: TIMING });
  return () => started.close();
}

describe('simulate against the live gateway: the alert path and the concurrency kind', () => {
  afterEach(async () => {
    await closeLive();
  });

  it(
    'an rps function stepped by the shipped rule through real Prometheus and Alertmanager and through the modelled ones gives 1 s replica samples within one replica at least 90 % of the time and a first alert scale-up within 3 s',
    async () => {
      const { measured, simCounts, simFirstAlertUpMs } = await compareLiveAndSimulated({
        functions: { surge: SURGE },
        calls: surgeTrace(),
        scaleCalls: [],
        runMs: SURGE_RUN_MS,
        warmup: { names: ['surge'], calls: 6 },
        sampleMs: 1000,
        agreement: 0.9,
        env: RPS_ENV,
        simulate: MODELLED,
        attach: monitoring,
      });
      const live = measured.firstAlertUpMs['surge'];
      const simulated = simFirstAlertUpMs['surge'];
      expect(live).not.toBeNull();
      expect(simulated).not.toBeNull();
      expect(Math.abs((simulated ?? 0) - (live ?? 0))).toBeLessThanOrEqual(3_000);
      // The trace does move it: a staircase of repeats well past the first step, back to min after the load.
      const counts = measured.counts['surge'] ?? [];
      expect(Math.max(...counts)).toBeGreaterThanOrEqual(4);
      expect(counts.at(-1)).toBe(1);
      expect(Math.max(...(simCounts['surge'] ?? []))).toBeGreaterThanOrEqual(4);
    },
    110_000,
  );

  it(
    'a concurrency function under Poisson load, through the real gateway and through the simulator, gives 100 ms replica samples within one replica at least 95 % of the time',
    async () => {
      const { measured } = await compareLiveAndSimulated({
        functions: { pool: POOL },
        calls: poolTrace(),
        scaleCalls: [],
        runMs: POOL_RUN_MS,
        warmup: { names: ['pool'], calls: 6 },
        sampleMs: 100,
        agreement: 0.95,
      });
      // The load does move it: up to 4 or more under the heaviest phase, back down after.
      const counts = measured.counts['pool'] ?? [];
      expect(Math.max(...counts)).toBeGreaterThanOrEqual(4);
      expect(counts.at(-1)).toBeLessThanOrEqual(2);
    },
    70_000,
  );
});
