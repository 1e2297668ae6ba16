import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { freePort } from '../src/providers/local/replica.js';
import { percentiles, type Percentiles } from './cold-start.js';
import { startFakeCluster } from './fake-cluster.js';
import { idleFootprint, idleFootprintSummary, type IdleFootprint } from './footprint-idle.js';
import { pacedRun } from './paced.js';
import { clockTicks } from './proxy-tools.js';
import { call, cpuShareOver, pool, rssMb, until } from './support.js';
import { measureSteps, stepCalls } from './alert-budget.js';
import { notificationStream } from './webhook.js';

/*
 * Scale and footprint: N Deployments (1,000 and 10,000) on the fake Kubernetes API (no added
 * latency), a gateway in its own process on the Kubernetes provider with `service` routing to
 * one echo server on 127.0.0.1 (ALERT_SCALER_FUNCTION_URL_TEMPLATE), so every function can be
 * called without N servers.
 *   listed   gateway spawn → GET /system/functions lists all N
 *   served   gateway spawn → every function answered one call (32 at a time) with 200
 *   idle     RSS (VmRSS) after the calls, and CPU share of one core over `idleSeconds`
 *   load     RSS and CPU share during the proxy entry's fixed rate (500 calls/s, open loop)
 *   API calls per alert step: 40 notifications one at a time on functions the stream does
 *            not touch (firing then resolved per function: a step up, a step down), each
 *            step's calls counted until the API log is quiet (bench/alert-budget.ts): mean,
 *            p99 and max per step, mean by kind; lists, watches and the Lease excluded
 *   webhook  p50 / p99 of the webhook entry's stream (200/s over 100 of the functions), and
 *            the API calls made meanwhile per notification
 */

export interface FootprintRow {
  readonly functions: number;
  readonly listedMs: number;
  readonly servedMs: number;
  readonly idleRssMb: number;
  readonly idleCpuShare: number;
  readonly idleSeconds: number;
  readonly loadRate: number;
  readonly loadRssMb: number;
  readonly loadCpuShare: number;
  readonly loadLatencyMs: Percentiles;
  readonly loadErrors: number;
  readonly webhookLatencyMs: Percentiles;
  readonly webhookStatuses: Record<string, number>;
  /** Mean API calls per alert step. */
  readonly apiCallsPerAlert: number;
  /** Those calls by verb and resource (`get deployments`, `patch deployments/scale`), per alert; absent in older results. */
  readonly apiCallsPerAlertByKind?: Record<string, number>;
  /** p99 and max of the API calls of one alert step; absent in older results. */
  readonly apiCallsPerStepP99?: number;
  readonly apiCallsPerStepMax?: number;
  /** GETs over the measured steps (the goal: none); absent in older results. */
  readonly apiGetsInSteps?: number;
  /** API calls per notification during the 200/s stream; absent in older results. */
  readonly streamCallsPerNotification?: number;
}

export interface FootprintResult {
  readonly name: 'footprint';
  /** The gateway alone, idle, on the memory provider (bench/footprint-idle.ts); absent in older results. */
  readonly idle?: IdleFootprint;
  readonly rows: FootprintRow[];
}

export interface FootprintOptions {
  /** Kubernetes rows (fake API); none when empty. */
  readonly sizes?: readonly number[];
  /** Functions of the memory-provider idle measure; 0 skips it. */
  readonly memoryFunctions?: number;
  /** Its idle window, s. */
  readonly memoryIdleSeconds?: number;
  readonly idleSeconds?: number;
  readonly loadSeconds?: number;
  readonly webhookSeconds?: number;
}

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function measure(functions: number, options: Required<FootprintOptions>): Promise<FootprintRow> {
  const echo = await echoServer();
  const cluster = await startFakeCluster({ count: functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' }, latencyMs: 0 });
  const ticks = clockTicks();
  const port = await freePort();
  const adminPort = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      PORT: String(port),
      ALERT_SCALER_ADMIN_PORT: String(adminPort),
      ALERT_SCALER_HOST: '127.0.0.1',
      ALERT_SCALER_LOG_LEVEL: 'error',
      ALERT_SCALER_PROVIDER: 'kubernetes',
      KUBECONFIG: cluster.kubeconfig,
      ALERT_SCALER_KUBERNETES_ROUTING: 'service',
      ALERT_SCALER_FUNCTION_URL_TEMPLATE: `http://127.0.0.1:${echo.port}`,
      ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  child.stderr?.on('data', (c: Buffer) => (logs = (logs + c.toString()).slice(-10_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = child.pid ?? -1;
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    // Ready first, then the list every 500 ms: before the provider has started, each list is a
    // live LIST of every Deployment, and polling that fast starves the fake API (this process)
    // that the gateway is starting against.
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`footprint bench: gateway exited: ${logs}`);
      return (await call(`${url}/healthz`, { timeoutMs: 2000 })).status === 200;
    }, 'gateway /healthz', 180_000, 50);
    await until(async () => {
      const a = await call(`${adminUrl}/system/functions`, { timeoutMs: 30_000 });
      if (a.status !== 200) return false;
      const n = (JSON.parse(a.body) as unknown[]).length;
      return n >= functions;
    }, `${functions} functions listed`, 180_000, 500);
    const listedMs = Math.round(performance.now() - began);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    let failures = 0;
    await pool(functions, 32, async (i) => {
      for (let attempt = 0; attempt < 50; attempt++) {
        const a = await call(`${url}/function/fn-${i}`, { method: 'POST', body: '{}', agent, timeoutMs: 10_000 });
        if (a.status === 200) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      failures += 1;
    });
    agent.destroy();
    if (failures > 0) throw new Error(`footprint bench: ${failures} of ${functions} functions never answered 200`);
    const servedMs = Math.round(performance.now() - began);

    const idleCpuShare = await cpuShareOver(pid, ticks, options.idleSeconds * 1000);
    const idleRssMb = rssMb(pid);

    const loadRate = 500;
    const cpuDuring = cpuShareOver(pid, ticks, options.loadSeconds * 1000);
    const load = await pacedRun(`${url}/function/fn-0`, { rate: loadRate, seconds: options.loadSeconds, body: Buffer.alloc(64, 97) });
    const loadRssMb = rssMb(pid);
    const loadCpuShare = await cpuDuring;

    // Steps first: the stream's aggregated Events come due 30 s after it, not inside these steps.
    const steps = await measureSteps(cluster.fake, adminUrl, { steps: 40, from: Math.min(100, functions), functions });
    const streamFrom = cluster.fake.requests.length;
    const webhook = await notificationStream(adminUrl, { rate: 200, seconds: options.webhookSeconds, functions: Math.min(100, functions) });
    const streamCalls = stepCalls(cluster.fake.requests.slice(streamFrom)).length;

    return {
      functions,
      listedMs,
      servedMs,
      idleRssMb,
      idleCpuShare,
      idleSeconds: options.idleSeconds,
      loadRate,
      loadRssMb,
      loadCpuShare,
      loadLatencyMs: load.latencyMs,
      loadErrors: load.errors,
      webhookLatencyMs: percentiles(webhook.latencies),
      webhookStatuses: webhook.statuses,
      apiCallsPerAlert: steps.mean,
      apiCallsPerAlertByKind: steps.byKind,
      apiCallsPerStepP99: steps.p99,
      apiCallsPerStepMax: steps.max,
      apiGetsInSteps: steps.gets,
      streamCallsPerNotification: Math.round((streamCalls / webhook.sent) * 100) / 100,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    await cluster.close();
    await echo.close();
  }
}

/** The idle measure on the memory provider first, then each Kubernetes size in turn; every process it starts is stopped before it returns. */
export async function footprintBenchmark(opts: FootprintOptions = {}): Promise<FootprintResult> {
  const options: Required<FootprintOptions> = {
    sizes: opts.sizes ?? [1000, 10_000],
    memoryFunctions: opts.memoryFunctions ?? 10_000,
    memoryIdleSeconds: opts.memoryIdleSeconds ?? 60,
    idleSeconds: opts.idleSeconds ?? 30,
    loadSeconds: opts.loadSeconds ?? 10,
    webhookSeconds: opts.webhookSeconds ?? 10,
  };
  const idle = options.memoryFunctions > 0 ? await idleFootprint({ functions: options.memoryFunctions, idleSeconds: options.memoryIdleSeconds }) : undefined;
  const rows: FootprintRow[] = [];
  for (const size of options.sizes) rows.push(await measure(size, options));
  return { name: 'footprint', ...(idle === undefined ? {} : { idle }), rows };
}

/** The result for humans. */
export function footprintSummary(r: FootprintResult): string {
  const lines = [...(r.idle === undefined ? [] : [idleFootprintSummary(r.idle)]), ...(r.rows.length === 0 ? [] : ['scale and footprint (Kubernetes provider, fake API, service routing to one echo server):'])];
  for (const row of r.rows) {
    lines.push(
      `  ${row.functions} functions: listed ${(row.listedMs / 1000).toFixed(1)} s, all served ${(row.servedMs / 1000).toFixed(1)} s; idle RSS ${row.idleRssMb} MB, CPU ${(row.idleCpuShare * 100).toFixed(2)} % of a core over ${row.idleSeconds} s;` +
        ` at ${row.loadRate}/s RSS ${row.loadRssMb} MB, CPU ${(row.loadCpuShare * 100).toFixed(1)} %, p99 ${row.loadLatencyMs.p99.toFixed(2)} ms (${row.loadErrors} errors);` +
        ` webhook 200/s p50 ${row.webhookLatencyMs.p50.toFixed(1)} ms, p99 ${row.webhookLatencyMs.p99.toFixed(1)} ms (${row.streamCallsPerNotification ?? '?'} API calls per notification);` +
        ` API calls per alert step mean ${row.apiCallsPerAlert}, p99 ${row.apiCallsPerStepP99 ?? '?'}, max ${row.apiCallsPerStepMax ?? '?'}, GETs ${row.apiGetsInSteps ?? '?'}`,
    );
  }
  return lines.join('\n');
}
