import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { GATEWAY_NODE_FLAGS } from '../src/bootstrap/node-flags.js';
import { freePort } from '../src/providers/local/replica.js';
import { percentiles, type Percentiles } from './cold-start.js';

/*
 * Webhook flood (issue 8 item 2): one Alertmanager notification with 10,000 distinct firing
 * alerts for one function, posted to a gateway running as its own process (`node
 * dist/src/main.js`, local provider), while this process asks GET /healthz back to back on
 * fresh connections. The goal: the notification answered in < 1 s, and /healthz in < 100 ms
 * meanwhile (before the fix: 29 s, and /healthz waited as long).
 *
 * The same notification is sent `rounds` times: the first steps the function to max, the
 * rest are duplicates against a stored state at its cap (before the fix repeats got slower).
 * With the local provider the first round also starts max − 1 replicas, and each spawn
 * holds the gateway's loop for a few ms; run with max 2 to see the webhook alone.
 */

export interface WebhookFloodRound {
  /** Client time from sending the notification to the end of its answer. */
  readonly webhookMs: number;
  readonly status: number;
  /** /healthz answers that started while the notification was being handled. */
  readonly healthz: Percentiles & { readonly count: number };
}

export interface WebhookFloodResult {
  readonly name: 'webhook-flood';
  readonly alerts: number;
  readonly maxReplicas: number;
  readonly bodyBytes: number;
  readonly rounds: readonly WebhookFloodRound[];
  /** Slowest webhook answer over all rounds. */
  readonly maxWebhookMs: number;
  /** Slowest /healthz answer over all rounds. */
  readonly maxHealthzMs: number;
  readonly durationMs: number;
}

export interface WebhookFloodOptions {
  readonly alerts?: number;
  readonly rounds?: number;
  /** Max replicas of the function (default 10): the first round starts max − 1 local replicas. */
  readonly maxReplicas?: number;
}

function call(port: number, method: string, path: string, body?: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`webhook-flood bench: no answer to ${method} ${path}`)));
    req.once('error', reject);
    req.end(body);
  });
}

/** One notification with `count` distinct firing alerts for echo, as Alertmanager writes it. */
function flood(count: number): string {
  const alerts = Array.from({ length: count }, (_, i) => ({
    status: 'firing',
    labels: { alertname: 'APIHighInvocationRate', function_name: 'echo' },
    annotations: {},
    startsAt: '2026-11-23T19:07:12.537Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://127.0.0.1:9090/graph',
    fingerprint: `f${i}`,
  }));
  return JSON.stringify({ version: '4', status: 'firing', receiver: 'scale-up', groupKey: '{}', externalURL: 'http://127.0.0.1:9093', alerts });
}

async function waitForHealth(port: number): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const ok = await call(port, 'GET', '/healthz').then((r) => r.status === 200, () => false);
    if (ok) return;
    if (performance.now() > deadline) throw new Error('webhook-flood bench: gateway not healthy within 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the flood against a gateway process on 127.0.0.1. */
export async function webhookFloodBenchmark(options: WebhookFloodOptions = {}): Promise<WebhookFloodResult> {
  const count = options.alerts ?? 10_000;
  const roundsWanted = options.rounds ?? 5;
  const maxReplicas = options.maxReplicas ?? 10;
  const began = performance.now();
  const root = packageRoot();
  const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-flood-'));
  const stack = join(dir, 'stack.yml');
  const echo = join(root, 'examples', 'functions', 'echo.mjs');
  writeFileSync(stack, `functions:\n  echo:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(echo)}]\n    labels:\n      com.openfaas.scale.max: "${maxReplicas}"\n`);
  const port = await freePort();
  const adminPort = await freePort();
  const gateway = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, join(root, 'dist', 'src', 'main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      PORT: String(port),
      ALERT_SCALER_ADMIN_PORT: String(adminPort),
      ALERT_SCALER_HOST: '127.0.0.1',
      ALERT_SCALER_STACK: stack,
      ALERT_SCALER_LOG_LEVEL: 'error',
      ALERT_SCALER_BODY_LIMIT_BYTES: String(4 * 1024 * 1024),
      ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => gateway.once('exit', r));
  const body = flood(count);
  const rounds: WebhookFloodRound[] = [];
  try {
    await waitForHealth(port);
    for (let round = 0; round < roundsWanted; round++) {
      let handling = true;
      const probes: number[] = [];
      const probing = (async () => {
        while (handling) probes.push((await call(port, 'GET', '/healthz')).ms);
      })();
      const answer = await call(adminPort, 'POST', '/system/alert', body);
      handling = false;
      await probing;
      rounds.push({ webhookMs: Math.round(answer.ms * 100) / 100, status: answer.status, healthz: { ...percentiles(probes), count: probes.length } });
    }
  } finally {
    gateway.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
  const result: WebhookFloodResult = {
    name: 'webhook-flood',
    alerts: count,
    maxReplicas,
    bodyBytes: Buffer.byteLength(body),
    rounds,
    maxWebhookMs: Math.max(...rounds.map((r) => r.webhookMs)),
    maxHealthzMs: Math.max(...rounds.map((r) => r.healthz.max)),
    durationMs: Math.round(performance.now() - began),
  };
  return result;
}

/** Writes flood results to bench/results/webhook-flood.json (kept in git as the last measured figures). */
export function writeFloodResults(environment: object, results: readonly WebhookFloodResult[]): string {
  const dir = join(packageRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'webhook-flood.json');
  writeFileSync(path, JSON.stringify({ environment, results }, null, 2) + '\n');
  return path;
}
