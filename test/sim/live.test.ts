import { afterEach, describe, expect, it } from '@jest/globals';
import type { ScaleCall } from '../../src/sim/scale-calls.js';
import type { TestFunction } from '../support/harness.js';
import { closeLive, compareLiveAndSimulated } from './live-harness.js';

/*
 * Integration tier: load through the real gateway (local provider, one child process per
 * replica) and through the simulator, compared sample by sample.
 *
 * First case: functions the gateway scales without a policy kind: `sleepy` scales to zero
 * after 3 s without a call and wakes on the next (idler and waker), `steady` (rps) is moved
 * by the manual scale API at fixed times in both runs. Second case: a `queue` function
 * scaled by the policy loop (step-ups while requests wait busy, per-replica idle removal
 * down to 0, wakes).
 *
 * The quiet gaps are as long as the moves need and no longer (the suite's wall time is
 * mostly these traces): each gap leaves the function at zero for at least 2 s before the next
 * call, each manual count holds for 7 s, so every move is still seen in both timelines.
 */

const RUN_MS = 32_000;

const LABELS: Record<string, Record<string, string>> = {
  sleepy: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '3s' },
  steady: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5' },
};
const FUNCTIONS: Record<string, TestFunction> = {
  sleepy: { labels: LABELS['sleepy'] ?? {}, environment: { START_DELAY_MS: '400', RESPONSE_DELAY_MS: '50' } },
  steady: { labels: LABELS['steady'] ?? {}, environment: { START_DELAY_MS: '300', RESPONSE_DELAY_MS: '100' } },
};

/**
 * The trace: `sleepy` in four bursts with quiet gaps longer than its zero-duration (it is at
 * zero about 3.5 s after a burst's last call: 3 s idle, 1 s idler ticks), `steady` at 2 calls/s.
 */
function trace(): Array<{ timeMs: number; name: string }> {
  const calls: Array<{ timeMs: number; name: string }> = [];
  const burst = (from: number, to: number, every: number) => {
    for (let t = from; t <= to; t += every) calls.push({ timeMs: t, name: 'sleepy' });
  };
  burst(0, 2_500, 500);
  burst(9_000, 11_000, 500);
  burst(17_000, 18_000, 250);
  burst(24_000, 24_000, 1);
  for (let t = 0; t < RUN_MS; t += 500) calls.push({ timeMs: t, name: 'steady' });
  return calls.sort((a, b) => a.timeMs - b.timeMs);
}

const SCALE_CALLS: readonly ScaleCall[] = [
  { atMs: 5_000, function: 'steady', replicas: 4 },
  { atMs: 12_000, function: 'steady', replicas: 2 },
  { atMs: 19_000, function: 'steady', replicas: 5 },
  { atMs: 26_000, function: 'steady', replicas: 1 },
];

/**
 * EverAI's SimpleAutoScaler: one request per replica, a step up while more than one request
 * waits busy, each replica removed after 3 s without a request, down to 0.
 */
const WORKER: TestFunction = {
  labels: {
    'com.openfaas.scale.type': 'queue',
    'com.openfaas.scale.min': '0',
    'com.openfaas.scale.max': '5',
    'com.openfaas.scale.max-queue': '1',
    'com.openfaas.scale.step': '1',
    'com.openfaas.scale.idle-timeout': '3s',
    'com.openfaas.scale.concurrency': '1',
  },
  environment: { START_DELAY_MS: '300', RESPONSE_DELAY_MS: '200' },
};
const WORKER_RUN_MS = 28_000;

/**
 * Paced calls: light, 12.5/s (about 2.5 replicas busy; the steps reach 5 within 2 s), light,
 * then two short bursts after gaps longer than the idle time (all 5 are gone about 3.5 s
 * after the last call).
 */
function workerTrace(): Array<{ timeMs: number; name: string }> {
  const calls: Array<{ timeMs: number; name: string }> = [];
  const paced = (from: number, to: number, every: number) => {
    for (let t = from; t < to; t += every) calls.push({ timeMs: Math.round(t), name: 'worker' });
  };
  paced(0, 3_000, 500);
  paced(3_000, 8_000, 80);
  paced(8_000, 10_000, 500);
  paced(16_000, 18_000, 333);
  paced(24_000, 26_000, 500);
  return calls;
}

describe('simulate against the live gateway', () => {
  afterEach(async () => {
    await closeLive();
  });

  it(
    'half a minute of load over a scale-to-zero function and a manually scaled one, through the real gateway and through the simulator, gives replica timelines within one replica at least 90 % of the time and cold starts within one',
    async () => {
      const { measured } = await compareLiveAndSimulated({ functions: FUNCTIONS, calls: trace(), scaleCalls: SCALE_CALLS, runMs: RUN_MS });
      // The trace does move both: sleepy woke four times, steady reached 5.
      expect(measured.coldStarts['sleepy']).toBeGreaterThanOrEqual(3);
      expect(Math.max(...(measured.counts['steady'] ?? []))).toBe(5);
    },
    100_000,
  );

  it(
    'a queue function scaled by the policy loop under a paced trace, through the real gateway and through the simulator, gives replica timelines within one replica at least 90 % of the time and cold starts within one',
    async () => {
      const { measured } = await compareLiveAndSimulated({ functions: { worker: WORKER }, calls: workerTrace(), scaleCalls: [], runMs: WORKER_RUN_MS, warmup: { names: ['worker'], calls: 6 } });
      // The trace does move it: step-ups under the busy queue, idle removal to 0, wakes.
      const counts = measured.counts['worker'] ?? [];
      expect(Math.max(...counts)).toBeGreaterThanOrEqual(3);
      expect(counts.filter((n) => n === 0).length).toBeGreaterThan(0);
      expect(measured.coldStarts['worker']).toBeGreaterThanOrEqual(2);
    },
    75_000,
  );
});
