import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/providers/local/replica.js';
import { percentiles, type Percentiles } from './cold-start.js';
import { startFakeCluster } from './fake-cluster.js';
import { findTool } from './proxy-tools.js';
import { call, startGatewayProcess, type GatewayProcess } from './support.js';

/*
 * Webhook latency under a steady stream of notifications: `rate` notifications/s (default
 * 200) round-robin over 100 functions, each naming one function, sent open loop (each at its
 * scheduled time) over keep-alive connections as Alertmanager sends them, to a gateway in its
 * own process. Each function alternates firing (a new occurrence: new startsAt) and resolved,
 * with ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS=0, so every notification is one real step: up
 * to max on firing, back to min on resolved.
 *   local       the local provider. A step there starts or stops a process, so the replicas
 *               must be cheap: each function's replica is `sleep 3600` (coreutils, no Node:
 *               ~1 MB, a millisecond to spawn) with min 0, max 1: firing starts one process,
 *               resolved stops it. It never answers a health probe (the probe interval is
 *               1 s here so 100 unready replicas do not probe every 5 ms); nothing calls it.
 *   kubernetes  the Kubernetes provider against the fake API (test/kubernetes/) with 5 ms
 *               added before every answer; min 1, max 2: a step is a scale subresource write.
 * The figure is the client's time per notification (send to end of answer): p50 / p99.
 */

export interface WebhookRow {
  readonly provider: 'local' | 'kubernetes';
  readonly functions: number;
  readonly rate: number;
  readonly seconds: number;
  readonly sent: number;
  /** Answers by status (`0 <reason>` = no answer, e.g. `0 ECONNRESET`). */
  readonly statuses: Record<string, number>;
  readonly latencyMs: Percentiles;
  /** alert_scaler_scale_changes_total summed after the run: the steps that really happened. */
  readonly scaleChanges: number;
  /** Kubernetes: API requests the gateway made during the run, per notification. */
  readonly apiCallsPerNotification?: number;
  readonly apiLatencyMs?: number;
}

export interface WebhookResult {
  readonly name: 'webhook';
  readonly rows: WebhookRow[];
  readonly skipped: string[];
}

export interface WebhookOptions {
  readonly rate?: number;
  readonly seconds?: number;
  readonly functions?: number;
  readonly apiLatencyMs?: number;
}

/** A v4 notification for one function: firing with a fresh startsAt, or resolved. */
export function notification(fn: string, firing: boolean, occurrence: number): string {
  const startsAt = new Date(Date.UTC(2026, 0, 1) + occurrence * 1000).toISOString();
  const labels = { alertname: 'APIHighInvocationRate', function_name: fn, service: 'gateway', severity: 'major' };
  const alert = { status: firing ? 'firing' : 'resolved', labels, annotations: {}, startsAt, endsAt: firing ? '0001-01-01T00:00:00Z' : new Date(Date.parse(startsAt) + 500).toISOString(), generatorURL: 'http://127.0.0.1:9090/graph', fingerprint: `fp-${fn}` };
  return JSON.stringify({ version: '4', status: alert.status, receiver: 'scale', groupKey: `{}:{function_name="${fn}"}`, groupLabels: { function_name: fn }, commonLabels: labels, commonAnnotations: {}, externalURL: 'http://127.0.0.1:9093', truncatedAlerts: 0, alerts: [alert] });
}

/** Sends the round-robin stream open loop; resolves with every answer's time and status. */
export async function notificationStream(url: string, options: { rate: number; seconds: number; functions: number }): Promise<{ sent: number; statuses: Record<string, number>; latencies: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(options.rate * options.seconds);
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const pending: Array<Promise<void>> = [];
  const began = performance.now();
  for (let i = 0; i < total; i++) {
    const due = began + (i * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const fn = i % options.functions;
    const round = Math.floor(i / options.functions);
    const body = notification(`fn-${fn}`, round % 2 === 0, round);
    pending.push(
      call(`${url}/system/alert`, { method: 'POST', body, agent, timeoutMs: 10_000 }).then((a) => {
        // No answer is counted with its reason (`0 ECONNRESET`, `0 deadline`): a lost notification says why.
        const key = a.status === 0 ? `0 ${a.error ?? 'unknown'}` : String(a.status);
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (a.status >= 200 && a.status < 300) latencies.push(a.ms);
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return { sent: total, statuses, latencies };
}

async function scaleChanges(gateway: GatewayProcess): Promise<number> {
  const text = (await call(`${gateway.url}/metrics`)).body;
  let sum = 0;
  for (const m of text.matchAll(/^alert_scaler_scale_changes_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)) sum += Number(m[1]);
  return sum;
}

async function localRow(options: Required<WebhookOptions>, sleepBin: string): Promise<WebhookRow> {
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-webhook-'));
  const stack = join(dir, 'stack.yml');
  const lines = ['functions:'];
  for (let i = 0; i < options.functions; i++) lines.push(`  fn-${i}:`, `    command: [${JSON.stringify(sleepBin)}, "3600"]`, '    labels: { com.openfaas.scale.min: "0", com.openfaas.scale.max: "1" }');
  writeFileSync(stack, lines.join('\n') + '\n');
  const gateway = await startGatewayProcess(
    { ALERT_SCALER_STACK: stack, ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0', ALERT_SCALER_HEALTH_INTERVAL_MS: '1000', ALERT_SCALER_START_TIMEOUT_MS: '3600000', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600', ALERT_SCALER_DRAIN_GRACE_MS: '1' },
    await freePort(),
  );
  try {
    const run = await notificationStream(gateway.adminUrl, options);
    return { provider: 'local', functions: options.functions, rate: options.rate, seconds: options.seconds, sent: run.sent, statuses: run.statuses, latencyMs: percentiles(run.latencies), scaleChanges: await scaleChanges(gateway) };
  } finally {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function kubernetesRow(options: Required<WebhookOptions>): Promise<WebhookRow> {
  const cluster = await startFakeCluster({ count: options.functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' }, latencyMs: options.apiLatencyMs });
  try {
    const gateway = await startGatewayProcess({ ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: cluster.kubeconfig, ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' }, await freePort());
    try {
      const before = cluster.fake.requests.length;
      const run = await notificationStream(gateway.adminUrl, options);
      const apiCalls = cluster.fake.requests.length - before;
      return {
        provider: 'kubernetes',
        functions: options.functions,
        rate: options.rate,
        seconds: options.seconds,
        sent: run.sent,
        statuses: run.statuses,
        latencyMs: percentiles(run.latencies),
        scaleChanges: await scaleChanges(gateway),
        apiCallsPerNotification: Math.round((apiCalls / run.sent) * 100) / 100,
        apiLatencyMs: options.apiLatencyMs,
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    await cluster.close();
  }
}

/** Runs the local and the Kubernetes rows; every process it starts is stopped before it returns. */
export async function webhookBenchmark(opts: WebhookOptions = {}): Promise<WebhookResult> {
  const options: Required<WebhookOptions> = { rate: opts.rate ?? 200, seconds: opts.seconds ?? 30, functions: opts.functions ?? 100, apiLatencyMs: opts.apiLatencyMs ?? 5 };
  const skipped: string[] = [];
  const rows: WebhookRow[] = [];
  const sleepBin = findTool(['/usr/bin/sleep', '/bin/sleep']);
  if (sleepBin === null) {
    skipped.push('sleep not found (/usr/bin/sleep): NO LOCAL PROVIDER ROW');
    process.stderr.write(`webhook bench: SKIPPING: ${skipped[0] ?? ''}\n`);
  } else rows.push(await localRow(options, sleepBin));
  rows.push(await kubernetesRow(options));
  return { name: 'webhook', rows, skipped };
}

/** The result for humans. */
export function webhookSummary(r: WebhookResult): string {
  const lines = ['webhook POST /system/alert, open loop, one function per notification, firing/resolved alternating:'];
  for (const row of r.rows) {
    const api = row.apiCallsPerNotification === undefined ? '' : `; ${row.apiCallsPerNotification} API calls per notification at ${row.apiLatencyMs ?? 0} ms each`;
    lines.push(`  ${row.provider.padEnd(10)} ${row.rate}/s over ${row.functions} functions for ${row.seconds} s: p50 ${row.latencyMs.p50.toFixed(1)} ms, p95 ${row.latencyMs.p95.toFixed(1)} ms, p99 ${row.latencyMs.p99.toFixed(1)} ms, max ${row.latencyMs.max.toFixed(1)} ms; answers ${JSON.stringify(row.statuses)}; ${row.scaleChanges} steps${api}`);
  }
  for (const s of r.skipped) lines.push(`  SKIPPED: ${s}`);
  return lines.join('\n');
}
