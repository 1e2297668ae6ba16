import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { packageRoot, policyDefaults, requestDefaults, type RunningScaler } from '../../src/bootstrap.js';
import type { EngineEvent } from '../../src/core/events.js';
import { shippedAlerting } from '../../src/sim/alerting.js';
import { Random } from '../../src/sim/random.js';
import { simulate, type RunResult } from '../../src/sim/run.js';
import type { ScaleCall } from '../../src/sim/scale-calls.js';
import { parseSimStack } from '../../src/sim/stack.js';
import { openTrace } from '../../src/sim/trace.js';
import { startTestScaler, testConfig, writeStack, type TestFunction } from '../support/harness.js';

/*
 * The integration tier's comparison of the simulator with the live gateway (test/sim/live*.test.ts):
 * a scenario runs through the real gateway (local provider, one child process per replica),
 * then through the simulator with the start and service times measured live; both replica
 * timelines are sampled from the trace's start and compared sample by sample.
 */

export const USER = 'admin';
export const PASSWORD = 'sim-live-password';
/** Settings of every live run (and of the simulator's config). */
export const ENV = { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '1', ALERT_SCALER_BASIC_AUTH_USER: USER, ALERT_SCALER_BASIC_AUTH_PASSWORD: PASSWORD };

/** One paced call of a trace. */
export interface Call {
  readonly timeMs: number;
  readonly name: string;
}

/** One comparison: the functions (labels and the echo's delays), the paced calls, manual scale calls. */
export interface Scenario {
  readonly functions: Record<string, TestFunction>;
  readonly calls: readonly Call[];
  readonly scaleCalls: readonly ScaleCall[];
  readonly runMs: number;
  /**
   * Functions whose service time is measured before the trace by this many calls one after
   * the other (none waits), then left to scale back to zero; the others' service time is the
   * median latency of the trace's calls that found a ready replica.
   */
  readonly warmup?: { readonly names: readonly string[]; readonly calls: number };
  /** Time between two replica samples, ms; 100 when absent. */
  readonly sampleMs?: number;
  /** Share of samples that must be within one replica; 0.9 when absent. */
  readonly agreement?: number;
  /** Settings besides ENV, for the gateway and the simulator's config alike. */
  readonly env?: Readonly<Record<string, string>>;
  /** Keys of the simulated stack's `simulate:` block besides `alerting: alert-scaler` (its alerting settings). */
  readonly simulate?: Readonly<Record<string, string | number>>;
  /**
   * Started once the gateway's replicas are up, before the warm-up (e.g. Prometheus and
   * Alertmanager); its result is called after the run, also when the test fails.
   */
  readonly attach?: (gateway: RunningScaler) => Promise<() => Promise<void>>;
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** One digit per `every` samples (the sample at its start): a timeline that fits a line. */
export const sketch = (counts: readonly number[], every = 5): string => counts.filter((_, i) => i % every === 0).map((n) => (n > 9 ? '+' : String(n))).join('');

/** Times from the trace's start of the changes of `name` decided by alerts, ms. */
function alertChanges(events: readonly EngineEvent[], name: string, t0: number): number[] {
  return events.filter((e) => e.function === name && (e.action === 'scale_up' || e.action === 'scale_down') && e.source === 'alert' && e.time >= t0).map((e) => e.time - t0);
}

/** Time from the trace's start to the first scale-up by an alert of `name`, ms; null when none. */
function firstAlertUp(events: readonly EngineEvent[], name: string, t0: number): number | null {
  const first = events.find((e) => e.function === name && e.action === 'scale_up' && e.source === 'alert' && e.time >= t0);
  return first === undefined ? null : first.time - t0;
}

const seconds = (times: readonly number[]): string => times.map((ms) => (ms / 1000).toFixed(1)).join(' ');

export interface LiveRun {
  /** Per function, replicas listed by the provider every sample from the trace's start. */
  readonly counts: Record<string, number[]>;
  readonly coldStarts: Record<string, number>;
  /** Median start-to-ready of the replicas started during the run, per function, ms. */
  readonly startMs: Record<string, number>;
  /** Median latency of the calls that found a ready replica, per function, ms. */
  readonly serviceMs: Record<string, number>;
  /** From the trace's start to the first alert scale-up, per function, ms (null: none). */
  readonly firstAlertUpMs: Record<string, number | null>;
  /** From the trace's start to each change decided by an alert, per function, ms. */
  readonly alertChangesMs: Record<string, number[]>;
  readonly statuses: number[];
}

/** What was started for the current test; `closeLive` stops it (call it in afterEach). */
const running: Array<() => Promise<void>> = [];

/** Stops what the last comparison started (monitoring first, then the gateway). */
export async function closeLive(): Promise<void> {
  while (running.length > 0) await running.pop()?.();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function warmUp(s: RunningScaler, scenario: Scenario): Promise<Record<string, number>> {
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
  return warmMs;
}

const minOf = (scenario: Scenario, name: string): number => Number(scenario.functions[name]?.labels?.['com.openfaas.scale.min'] ?? 1);

async function runLive(scenario: Scenario): Promise<LiveRun> {
  const NAMES = Object.keys(scenario.functions);
  const RUN_MS = scenario.runMs;
  const SAMPLE_MS = scenario.sampleMs ?? 100;
  const s = await startTestScaler(scenario.functions, { ...ENV, ...scenario.env });
  running.push(() => s.close());
  const refOf = (name: string) => ({ name, namespace: 'openfaas-fn' });
  // Let the initial replicas come up, as the simulated ones do at the start.
  const readyBy = Date.now() + 10_000;
  const upToMin = () => NAMES.every((name) => s.provider.listReplicas(refOf(name)).filter((r) => r.phase === 'ready').length >= minOf(scenario, name));
  while (!upToMin() && Date.now() < readyBy) await sleep(20);
  if (scenario.attach !== undefined) running.push(await scenario.attach(s));
  const warmMs = await warmUp(s, scenario);
  // Back to the simulator's starting point: the warmed functions at their min again.
  const settledBy = Date.now() + 20_000;
  const atMin = () => (scenario.warmup?.names ?? []).every((name) => s.provider.listReplicas(refOf(name)).length === minOf(scenario, name));
  while (!atMin() && Date.now() < settledBy) await sleep(50);

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
  await sleep(t0 + RUN_MS - Date.now() + 50);
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
  const firstAlertUpMs = Object.fromEntries(NAMES.map((name) => [name, firstAlertUp(events, name, t0)]));
  const alertChangesMs = Object.fromEntries(NAMES.map((name) => [name, alertChanges(events, name, t0)]));
  return { counts, coldStarts, startMs, serviceMs, firstAlertUpMs, alertChangesMs, statuses };
}

/** The scenario through the simulator, with the start and service times measured live. */
async function runSimulated(scenario: Scenario, measured: LiveRun): Promise<RunResult> {
  const NAMES = Object.keys(scenario.functions);
  const block = Object.entries({ alerting: 'alert-scaler', ...scenario.simulate }).map(([k, v]) => `${k}: ${v}`);
  const lines = [`simulate: { ${block.join(', ')} }`, 'functions:'];
  for (const name of NAMES) {
    lines.push(`  ${name}:`, '    labels:');
    for (const [k, v] of Object.entries(scenario.functions[name]?.labels ?? {})) lines.push(`      ${k}: "${v}"`);
    lines.push(`    simulate: { start: ${Math.max(1, measured.startMs[name] ?? 0)}ms, service: ${Math.max(1, measured.serviceMs[name] ?? 0)}ms }`);
  }
  const config = testConfig(writeStack(scenario.functions), { ...ENV, ...scenario.env });
  const stack = parseSimStack(`${lines.join('\n')}\n`, 'live-stack.yml', {
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    shipped: () => shippedAlerting(packageRoot()),
  });
  const tracePath = join(mkdtempSync(join(tmpdir(), 'sim-live-')), 'trace.csv');
  writeFileSync(tracePath, `time,function\n${scenario.calls.map((c) => `${(c.timeMs / 1000).toFixed(3)},${c.name}`).join('\n')}\n`);
  return simulate({
    stack,
    trace: openTrace(tracePath, NAMES, new Random(1).fork(0)),
    seed: 1,
    durationMs: scenario.runMs,
    keepEvents: true,
    config,
    scaleCalls: scenario.scaleCalls,
    sampleEveryMs: scenario.sampleMs ?? 100,
  });
}

/** Both runs of a comparison, with the simulated timelines and first alert scale-ups. */
export interface Comparison {
  readonly measured: LiveRun;
  readonly simulated: RunResult;
  /** Per function, the simulated replicas at each sample of the live run. */
  readonly simCounts: Record<string, number[]>;
  readonly simFirstAlertUpMs: Record<string, number | null>;
}

/**
 * Runs `scenario` live, then through the simulator with the start and service times measured
 * live, prints both timelines and checks them: within one replica for at least
 * `scenario.agreement` (90 %) of the samples, cold starts within one, every call answered 200.
 */
export async function compareLiveAndSimulated(scenario: Scenario): Promise<Comparison> {
  const NAMES = Object.keys(scenario.functions);
  const SAMPLE_MS = scenario.sampleMs ?? 100;
  const measured = await runLive(scenario);
  await closeLive();
  expect(measured.statuses.filter((code) => code !== 200)).toEqual([]);
  const simulated = await runSimulated(scenario, measured);

  const digitMs = SAMPLE_MS >= 1000 ? SAMPLE_MS : 500;
  const report: string[] = [`measured start ms ${JSON.stringify(measured.startMs)}, service ms ${JSON.stringify(measured.serviceMs)}; one digit per ${digitMs / 1000} s`];
  const checks: Array<() => void> = [];
  const simCounts: Record<string, number[]> = {};
  const simFirstAlertUpMs: Record<string, number | null> = {};
  NAMES.forEach((name, index) => {
    const liveCounts = measured.counts[name] ?? [];
    const sim = simulated.samples.map((s) => s.replicas[index] ?? 0).slice(0, liveCounts.length);
    simCounts[name] = sim;
    simFirstAlertUpMs[name] = firstAlertUp(simulated.events, name, 0);
    const agree = sim.filter((n, i) => Math.abs(n - (liveCounts[i] ?? -10)) <= 1).length / liveCounts.length;
    const simColdStarts = simulated.functions[index]?.coldStarts ?? -10;
    const every = Math.max(1, digitMs / SAMPLE_MS);
    report.push(`${name.padEnd(7)} live ${sketch(liveCounts, every)}`, `${name.padEnd(7)} sim  ${sketch(sim, every)}`);
    report.push(`${name.padEnd(7)} within one replica ${(agree * 100).toFixed(1)} % of ${liveCounts.length} samples; cold starts live ${measured.coldStarts[name]}, simulated ${simColdStarts}`);
    if (measured.firstAlertUpMs[name] !== null || simFirstAlertUpMs[name] !== null) {
      report.push(`${name.padEnd(7)} first alert scale-up at ${measured.firstAlertUpMs[name]} ms live, ${simFirstAlertUpMs[name]} ms simulated`);
      report.push(`${name.padEnd(7)} alert changes at s: live ${seconds(measured.alertChangesMs[name] ?? [])}; sim ${seconds(alertChanges(simulated.events, name, 0))}`);
    }
    checks.push(() => {
      expect(liveCounts.length).toBe(scenario.runMs / SAMPLE_MS);
      expect(agree).toBeGreaterThanOrEqual(scenario.agreement ?? 0.9);
      expect(Math.abs(simColdStarts - (measured.coldStarts[name] ?? -10))).toBeLessThanOrEqual(1);
    });
  });
  // Both timelines are printed before any check can fail.
  process.stdout.write(`${report.join('\n')}\n`);
  for (const check of checks) check();
  return { measured, simulated, simCounts, simFirstAlertUpMs };
}
