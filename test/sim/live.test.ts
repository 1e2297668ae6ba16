import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { packageRoot, policyDefaults, requestDefaults, type RunningScaler } from '../../src/bootstrap.js';
import { shippedAlerting } from '../../src/sim/alerting.js';
import type { ScaleCall } from '../../src/sim/scale-calls.js';
import { Random } from '../../src/sim/random.js';
import { simulate } from '../../src/sim/run.js';
import { parseSimStack } from '../../src/sim/stack.js';
import { openTrace } from '../../src/sim/trace.js';
import { startTestScaler, testConfig, writeStack, type TestFunction } from '../support/harness.js';

/*
 * Integration tier: load through the real gateway (local provider, one child process per
 * replica) and through the simulator, compared sample by sample.
 *
 * First case: functions the gateway scales without a policy kind: `sleepy` scales to zero
 * after 3 s without a call and wakes on the next (idler and waker), `steady` (rps) is moved
 * by the manual scale API at fixed times in both runs. Second case: a `queue` function
 * scaled by the policy loop (step-ups while requests wait busy, per-replica idle removal
 * down to 0, wakes).
 */

const USER = 'admin';
const PASSWORD = 'sim-live-password';
const RUN_MS = 60_000;
const SAMPLE_MS = 100;
const ENV = { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '1', ALERT_SCALER_BASIC_AUTH_USER: USER, ALERT_SCALER_BASIC_AUTH_PASSWORD: PASSWORD };

const LABELS: Record<string, Record<string, string>> = {
  sleepy: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '3s' },
  steady: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5' },
};
const FUNCTIONS: Record<string, TestFunction> = {
  sleepy: { labels: LABELS['sleepy'] ?? {}, environment: { START_DELAY_MS: '400', RESPONSE_DELAY_MS: '50' } },
  steady: { labels: LABELS['steady'] ?? {}, environment: { START_DELAY_MS: '300', RESPONSE_DELAY_MS: '100' } },
};

/** The trace: `sleepy` in four bursts with quiet gaps longer than its zero-duration, `steady` at 2 calls/s. */
function trace(): Array<{ timeMs: number; name: string }> {
  const calls: Array<{ timeMs: number; name: string }> = [];
  const burst = (from: number, to: number, every: number) => {
    for (let t = from; t <= to; t += every) calls.push({ timeMs: t, name: 'sleepy' });
  };
  burst(0, 2_500, 500);
  burst(15_000, 17_000, 500);
  burst(32_000, 33_000, 250);
  burst(48_000, 48_000, 1);
  for (let t = 0; t < RUN_MS; t += 500) calls.push({ timeMs: t, name: 'steady' });
  return calls.sort((a, b) => a.timeMs - b.timeMs);
}

const SCALE_CALLS: readonly ScaleCall[] = [
  { atMs: 10_000, function: 'steady', replicas: 4 },
  { atMs: 25_000, function: 'steady', replicas: 2 },
  { atMs: 40_000, function: 'steady', replicas: 5 },
  { atMs: 52_000, function: 'steady', replicas: 1 },
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
const WORKER_RUN_MS = 40_000;

/** Paced calls: light, 12.5/s (about 2.5 replicas busy), light, then two short bursts after gaps longer than the idle time. */
function workerTrace(): Array<{ timeMs: number; name: string }> {
  const calls: Array<{ timeMs: number; name: string }> = [];
  const paced = (from: number, to: number, every: number) => {
    for (let t = from; t < to; t += every) calls.push({ timeMs: Math.round(t), name: 'worker' });
  };
  paced(0, 4_000, 500);
  paced(4_000, 12_000, 80);
  paced(12_000, 16_000, 500);
  paced(24_000, 26_000, 333);
  paced(34_000, 36_000, 500);
  return calls;
}

/** One comparison: the functions (labels and the echo's delays), the paced calls, manual scale calls. */
interface Scenario {
  readonly functions: Record<string, TestFunction>;
  readonly calls: ReadonlyArray<{ readonly timeMs: number; readonly name: string }>;
  readonly scaleCalls: readonly ScaleCall[];
  readonly runMs: number;
  /**
   * Functions whose service time is measured before the trace by this many calls one after
   * the other (none waits), then left to scale back to zero; the others' service time is the
   * median latency of the trace's calls that found a ready replica.
   */
  readonly warmup?: { readonly names: readonly string[]; readonly calls: number };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** One digit per half second (the sample at its start): a timeline that fits a line. */
const sketch = (counts: readonly number[]): string => counts.filter((_, i) => i % 5 === 0).map((n) => (n > 9 ? '+' : String(n))).join('');

interface LiveRun {
  /** Per function, replicas listed by the provider every 100 ms from the trace's start. */
  readonly counts: Record<string, number[]>;
  readonly coldStarts: Record<string, number>;
  /** Median start-to-ready of the replicas started during the run, per function, ms. */
  readonly startMs: Record<string, number>;
  /** Median latency of the calls that found a ready replica, per function, ms. */
  readonly serviceMs: Record<string, number>;
  readonly statuses: number[];
}

let live: RunningScaler | undefined;

async function runLive(scenario: Scenario): Promise<LiveRun> {
  const NAMES = Object.keys(scenario.functions);
  const RUN_MS = scenario.runMs;
  const s = await startTestScaler(scenario.functions, ENV);
  live = s;
  const refOf = (name: string) => ({ name, namespace: 'openfaas-fn' });
  // Let the initial replicas come up, as the simulated ones do at the start.
  const readyBy = Date.now() + 10_000;
  const upToMin = () => NAMES.every((name) => s.provider.listReplicas(refOf(name)).filter((r) => r.phase === 'ready').length >= Number(scenario.functions[name]?.labels?.['com.openfaas.scale.min'] ?? 1));
  while (!upToMin() && Date.now() < readyBy) await new Promise((r) => setTimeout(r, 20));
  const warmMs: Record<string, number> = {};
  for (const name of scenario.warmup?.names ?? []) {
    const spans: number[] = [];
    for (let i = 0; i < (scenario.warmup?.calls ?? 0); i++) {
      const started = performance.now();
      const res = await fetch(`${s.url}/function/${name}`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(15_000) });
      await res.text();
      // The first call may wake the function: not a service time.
      if (i > 0) spans.push(performance.now() - started);
    }
    warmMs[name] = Math.round(median(spans));
  }
  // Back to the simulator's starting point: the warmed functions at their min again.
  const settledBy = Date.now() + 20_000;
  const atMin = () => (scenario.warmup?.names ?? []).every((name) => s.provider.listReplicas(refOf(name)).length === Number(scenario.functions[name]?.labels?.['com.openfaas.scale.min'] ?? 1));
  while (!atMin() && Date.now() < settledBy) await new Promise((r) => setTimeout(r, 50));

  const counts: Record<string, number[]> = Object.fromEntries(NAMES.map((n) => [n, []]));
  const latencies: Record<string, number[]> = Object.fromEntries(NAMES.map((n) => [n, []]));
  const statuses: number[] = [];
  const t0 = Date.now() + 100;
  const timers: NodeJS.Timeout[] = [];
  const calls: Array<Promise<void>> = [];
  const at = (timeMs: number, task: () => void) => timers.push(setTimeout(task, t0 + timeMs - Date.now()));

  for (let i = 0; i * SAMPLE_MS < RUN_MS; i++) {
    at(i * SAMPLE_MS, () => {
      for (const name of NAMES) (counts[name] as number[])[i] = s.provider.listReplicas(refOf(name)).length;
    });
  }
  for (const call of scenario.calls) {
    at(call.timeMs, () => {
      const warm = s.provider.listReplicas(refOf(call.name)).some((r) => r.phase === 'ready');
      const started = performance.now();
      calls.push(
        fetch(`${s.url}/function/${call.name}`, { method: 'POST', body: 'x', signal: AbortSignal.timeout(15_000) }).then(
          async (res) => {
            await res.text();
            statuses.push(res.status);
            if (warm && res.status === 200) latencies[call.name]?.push(performance.now() - started);
          },
          () => {
            statuses.push(0);
          },
        ),
      );
    });
  }
  for (const call of scenario.scaleCalls) {
    at(call.atMs, () => {
      calls.push(
        fetch(`${s.adminUrl}/system/scale-function/${call.function}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
          body: JSON.stringify({ serviceName: call.function, replicas: call.replicas }),
          signal: AbortSignal.timeout(5_000),
        }).then(
          (res) => {
            statuses.push(res.status === 202 ? 200 : res.status);
          },
          () => {
            statuses.push(0);
          },
        ),
      );
    });
  }
  await new Promise((resolve) => setTimeout(resolve, t0 + RUN_MS - Date.now() + 50));
  for (const timer of timers) clearTimeout(timer);
  await Promise.all(calls);

  const events = s.engine.events.query();
  const startMs: Record<string, number> = {};
  for (const name of NAMES) {
    const began = new Map<string, number>();
    const spans: number[] = [];
    for (const e of events) {
      if (e.function !== name || e.replica === undefined) continue;
      if (e.action === 'scale_up_start') began.set(e.replica, e.time);
      const from = began.get(e.replica);
      if (e.action === 'scale_up_complete' && from !== undefined) spans.push(e.time - from);
    }
    startMs[name] = median(spans);
  }
  const coldStarts = Object.fromEntries(NAMES.map((name) => [name, events.filter((e) => e.function === name && e.action === 'scale_up' && e.from === 0 && e.time >= t0).length]));
  const serviceMs = Object.fromEntries(NAMES.map((name) => [name, warmMs[name] ?? Math.round(median(latencies[name] ?? []))]));
  return { counts, coldStarts, startMs, serviceMs, statuses };
}

/**
 * Runs `scenario` live, then through the simulator with the start and service times measured
 * live, prints both timelines and checks them: within one replica for at least 90 % of the
 * samples, cold starts within one, every call answered 200.
 */
async function compareLiveAndSimulated(scenario: Scenario): Promise<LiveRun> {
  const NAMES = Object.keys(scenario.functions);
  const RUN_MS = scenario.runMs;
  const measured = await runLive(scenario);
  expect(measured.statuses.filter((code) => code !== 200)).toEqual([]);

  // The same stack for the simulator, with the start and service times measured live.
  const lines = ['simulate: { alerting: alert-scaler }', 'functions:'];
  for (const name of NAMES) {
    lines.push(`  ${name}:`, '    labels:');
    for (const [k, v] of Object.entries(scenario.functions[name]?.labels ?? {})) lines.push(`      ${k}: "${v}"`);
    lines.push(`    simulate: { start: ${Math.max(1, measured.startMs[name] ?? 0)}ms, service: ${Math.max(1, measured.serviceMs[name] ?? 0)}ms }`);
  }
  const config = testConfig(writeStack(scenario.functions), ENV);
  const stack = parseSimStack(`${lines.join('\n')}\n`, 'live-stack.yml', {
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    shipped: () => shippedAlerting(packageRoot()),
  });
  const tracePath = join(mkdtempSync(join(tmpdir(), 'sim-live-')), 'trace.csv');
  writeFileSync(tracePath, `time,function\n${scenario.calls.map((c) => `${(c.timeMs / 1000).toFixed(3)},${c.name}`).join('\n')}\n`);
  const result = await simulate({
    stack,
    trace: openTrace(tracePath, NAMES, new Random(1).fork(0)),
    seed: 1,
    durationMs: RUN_MS,
    keepEvents: false,
    config,
    scaleCalls: scenario.scaleCalls,
    sampleEveryMs: SAMPLE_MS,
  });

  const report: string[] = [`measured start ms ${JSON.stringify(measured.startMs)}, service ms ${JSON.stringify(measured.serviceMs)}; one digit per 0.5 s`];
  const checks: Array<() => void> = [];
  NAMES.forEach((name, index) => {
    const liveCounts = measured.counts[name] ?? [];
    const simCounts = result.samples.map((s) => s.replicas[index] ?? 0).slice(0, liveCounts.length);
    const agree = simCounts.filter((n, i) => Math.abs(n - (liveCounts[i] ?? -10)) <= 1).length / liveCounts.length;
    const simColdStarts = result.functions[index]?.coldStarts ?? -10;
    report.push(`${name.padEnd(7)} live ${sketch(liveCounts)}`, `${name.padEnd(7)} sim  ${sketch(simCounts)}`);
    report.push(`${name.padEnd(7)} within one replica ${(agree * 100).toFixed(1)} % of ${liveCounts.length} samples; cold starts live ${measured.coldStarts[name]}, simulated ${simColdStarts}`);
    checks.push(() => {
      expect(liveCounts.length).toBe(RUN_MS / SAMPLE_MS);
      expect(agree).toBeGreaterThanOrEqual(0.9);
      expect(Math.abs(simColdStarts - (measured.coldStarts[name] ?? -10))).toBeLessThanOrEqual(1);
    });
  });
  // Both timelines are printed before any check can fail.
  process.stdout.write(`${report.join('\n')}\n`);
  for (const check of checks) check();
  return measured;
}

describe('simulate against the live gateway', () => {
  afterEach(async () => {
    await live?.close();
    live = undefined;
  });

  it(
    'one minute of load over a scale-to-zero function and a manually scaled one, through the real gateway and through the simulator, gives replica timelines within one replica at least 90 % of the time and cold starts within one',
    async () => {
      const measured = await compareLiveAndSimulated({ functions: FUNCTIONS, calls: trace(), scaleCalls: SCALE_CALLS, runMs: RUN_MS });
      // The trace does move both: sleepy woke four times, steady reached 5.
      expect(measured.coldStarts['sleepy']).toBeGreaterThanOrEqual(3);
      expect(Math.max(...(measured.counts['steady'] ?? []))).toBe(5);
    },
    100_000,
  );

  it(
    'a queue function scaled by the policy loop under a paced trace, through the real gateway and through the simulator, gives replica timelines within one replica at least 90 % of the time and cold starts within one',
    async () => {
      const measured = await compareLiveAndSimulated({ functions: { worker: WORKER }, calls: workerTrace(), scaleCalls: [], runMs: WORKER_RUN_MS, warmup: { names: ['worker'], calls: 6 } });
      // The trace does move it: step-ups under the busy queue, idle removal to 0, wakes.
      const counts = measured.counts['worker'] ?? [];
      expect(Math.max(...counts)).toBeGreaterThanOrEqual(3);
      expect(counts.filter((n) => n === 0).length).toBeGreaterThan(0);
      expect(measured.coldStarts['worker']).toBeGreaterThanOrEqual(2);
    },
    75_000,
  );
});
