import type { FakeApiServer, RecordedRequest } from '../test/kubernetes/fake-api-server.js';
import { percentiles, type Percentiles } from './cold-start.js';
import { startFakeCluster } from './fake-cluster.js';
import { call, startGatewayProcess, until } from './support.js';
import { freePort } from '../src/providers/local/replica.js';
import { notification, notificationStream } from './webhook.js';

/*
 * The API budget of alert steps against the fake Kubernetes API (5 ms added per call by
 * default), the gateway in its own process:
 *   steps    (first) see below
 *   stream   the webhook's answer time at `rate` notifications/s round-robin over 100
 *            functions (firing and resolved alternating: every notification is a step), and
 *            the API calls the gateway made meanwhile per notification (lists, watches and
 *            the Lease excluded)
 *   steps    `steps` notifications one at a time on functions the stream did not touch
 *            (firing then resolved per function, min 1 max 2, scale-down window 0: a step
 *            up, then a step down); each step's calls are those made from its send until
 *            the API log was quiet for 250 ms (the background removal and Event included):
 *            mean, p99 and max per step, and the mean by kind
 * Events are aggregated: a function's Event is written at most once per interval (30 s), so
 * the steps count the first Event of each function; later ones come due after the run.
 */

export interface StepBudget {
  readonly steps: number;
  readonly mean: number;
  readonly p99: number;
  readonly max: number;
  /** Mean calls per step by `verb resource[/subresource]`. */
  readonly byKind: Record<string, number>;
  /** GETs over all the steps (the goal: none). */
  readonly gets: number;
}

export interface AlertBudgetRow {
  readonly functions: number;
  readonly apiLatencyMs: number;
  readonly rate: number;
  readonly seconds: number;
  readonly webhookLatencyMs: Percentiles;
  readonly webhookStatuses: Record<string, number>;
  /** API calls during the stream per notification. */
  readonly streamCallsPerNotification: number;
  readonly steps: StepBudget;
}

/** The calls that belong to steps: not the caches' list/watch, not the Lease, not discovery. */
export function stepCalls(requests: readonly RecordedRequest[]): RecordedRequest[] {
  return requests.filter((r) => r.verb !== null && r.verb !== 'watch' && r.verb !== 'list' && r.resource !== 'leases');
}

const kindOf = (r: RecordedRequest): string => `${r.verb ?? r.method} ${r.resource ?? r.path}${r.subresource === null ? '' : `/${r.subresource}`}`;

/**
 * Sends `steps` notifications one at a time (functions fn-<from> onwards, two steps each:
 * firing, then resolved) and counts each step's API calls until the log is quiet.
 */
export async function measureSteps(fake: FakeApiServer, adminUrl: string, options: { steps: number; from: number; functions: number }): Promise<StepBudget> {
  const perStep: number[] = [];
  const byKind: Record<string, number> = {};
  let gets = 0;
  for (let i = 0; i < options.steps; i++) {
    const fn = `fn-${options.from + (Math.floor(i / 2) % Math.max(1, options.functions - options.from))}`;
    const before = fake.requests.length;
    await call(`${adminUrl}/system/alert`, { method: 'POST', body: notification(fn, i % 2 === 0, 5000 + i), timeoutMs: 10_000 });
    let seen = -1;
    for (let quiet = 0, waited = 0; quiet < 250 && waited < 5000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      const now = fake.requests.length;
      quiet = now === seen ? quiet + 50 : 0;
      seen = now;
    }
    const calls = stepCalls(fake.requests.slice(before));
    perStep.push(calls.length);
    for (const c of calls) {
      byKind[kindOf(c)] = (byKind[kindOf(c)] ?? 0) + 1 / options.steps;
      if (c.verb === 'get') gets += 1;
    }
  }
  const p = percentiles(perStep);
  const mean = perStep.reduce((a, b) => a + b, 0) / Math.max(1, perStep.length);
  for (const k of Object.keys(byKind)) byKind[k] = Math.round((byKind[k] ?? 0) * 100) / 100;
  return { steps: perStep.length, mean: Math.round(mean * 100) / 100, p99: p.p99, max: p.max, byKind, gets };
}

/** The stream, then the steps, on a fake cluster of `functions` Deployments; every process it starts is stopped. */
export async function alertBudgetBenchmark(opts: { functions?: number; apiLatencyMs?: number; rate?: number; seconds?: number; steps?: number } = {}): Promise<AlertBudgetRow> {
  const functions = opts.functions ?? 1000;
  const apiLatencyMs = opts.apiLatencyMs ?? 5;
  const rate = opts.rate ?? 200;
  const seconds = opts.seconds ?? 10;
  const cluster = await startFakeCluster({ count: functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' }, latencyMs: apiLatencyMs });
  try {
    const gateway = await startGatewayProcess(
      { ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: cluster.kubeconfig, ALERT_SCALER_KUBERNETES_ROUTING: 'service', ALERT_SCALER_FUNCTION_URL_TEMPLATE: 'http://127.0.0.1:9', ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
      await freePort(),
      180_000,
    );
    try {
      await until(async () => {
        const a = await call(`${gateway.adminUrl}/system/functions`, { timeoutMs: 30_000 });
        return a.status === 200 && (JSON.parse(a.body) as unknown[]).length >= functions;
      }, `${functions} functions listed`, 180_000, 500);
      // Steps first: the stream's aggregated Events come due 30 s after it, not inside these steps.
      const steps = await measureSteps(cluster.fake, gateway.adminUrl, { steps: opts.steps ?? 40, from: Math.min(100, functions), functions });
      const before = cluster.fake.requests.length;
      const stream = await notificationStream(gateway.adminUrl, { rate, seconds, functions: Math.min(100, functions) });
      const streamCalls = stepCalls(cluster.fake.requests.slice(before)).length;
      return {
        functions, apiLatencyMs, rate, seconds,
        webhookLatencyMs: percentiles(stream.latencies),
        webhookStatuses: stream.statuses,
        streamCallsPerNotification: Math.round((streamCalls / stream.sent) * 100) / 100,
        steps,
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    await cluster.close();
  }
}

/** The result for humans. */
export function alertBudgetSummary(r: AlertBudgetRow): string {
  const kinds = Object.entries(r.steps.byKind).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `alert API budget, ${r.functions} functions on the fake API (${r.apiLatencyMs} ms per call):`,
    `  webhook at ${r.rate}/s over 100 functions for ${r.seconds} s: p50 ${r.webhookLatencyMs.p50.toFixed(1)} ms, p99 ${r.webhookLatencyMs.p99.toFixed(1)} ms, max ${r.webhookLatencyMs.max.toFixed(1)} ms; answers ${JSON.stringify(r.webhookStatuses)}; ${r.streamCallsPerNotification} API calls per notification`,
    `  ${r.steps.steps} steps one at a time: API calls per step mean ${r.steps.mean}, p99 ${r.steps.p99}, max ${r.steps.max}; GETs ${r.steps.gets}; by kind per step: ${kinds}`,
  ].join('\n');
}

/** `node dist/bench/alert-budget.js [functions]`: one row, printed. */
if (process.argv[1]?.endsWith('alert-budget.js') === true) {
  const functions = Number(process.argv[2] ?? '1000');
  alertBudgetBenchmark({ functions, seconds: Number(process.env['BENCH_WEBHOOK_SECONDS'] ?? '10') })
    .then((r) => process.stdout.write(`${alertBudgetSummary(r)}\n${JSON.stringify(r)}\n`))
    .catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    });
}
