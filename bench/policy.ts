import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { VirtualClock } from '../src/core/clock.js';
import { createEngine } from '../src/engine/index.js';
import { InvocationLog } from '../src/engine/activity.js';
import { Scalers } from '../src/engine/scalers.js';
import { silentLogger } from '../src/log/logger.js';
import { createMetrics } from '../src/metrics/registry.js';
import { MemoryProvider } from '../src/providers/memory/index.js';

/*
 * Policy reaction: from a queue forming (a request that has to wait because every replica
 * is busy) to the policy asking for one more replica (its `scale_up` event), for a `queue`
 * function with max-queue 0 and concurrency 1 on one replica.
 *
 * Virtual clock: the whole engine on the memory provider; the queue forms at a different
 * offset within the 1 s tick each trial. The function's scaler is fed the queue forming
 * (the dispatcher's onQueued) as an event and evaluates at once: 0 ms of virtual time.
 *
 * Real gateway: startScaler with the local provider, one real replica; a first request holds
 * it, a second one queues; the reaction is wall time (performance.now) from the second
 * request joining the queue (onQueued) to the scale_up event being recorded (the provider
 * has been asked for the replica: the local provider then spawns it). Each trial scales back
 * to 1 through the API first.
 */

const NS = 'openfaas-fn';
const LABELS = { 'com.openfaas.scale.type': 'queue', 'com.openfaas.scale.max-queue': '0', 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.max': '5', 'com.openfaas.scale.idle-timeout': '1h' };
const TICK_MS = 1000;

export interface PolicyReactionResult {
  readonly name: 'policy-reaction';
  readonly tickMs: number;
  /** Virtual ms from the queue forming to the scale_up event, per trial. */
  readonly virtualHookMs: readonly number[];
  /** Wall ms in the real gateway, per trial. */
  readonly gatewayMs: readonly number[];
}

async function virtualTrial(offsetMs: number): Promise<number> {
  const clock = new VirtualClock(1_000_000);
  const ref = { name: 'fn', namespace: NS };
  const provider = new MemoryProvider({ clock, defaultModel: { startMs: 500, stopMs: 10 }, functions: [{ ...ref, replicas: 1, labels: LABELS }] });
  const metrics = createMetrics();
  const logger = silentLogger();
  const config = loadConfig({}, () => {
    throw new Error('no config file');
  });
  const engine = createEngine({
    provider,
    clock,
    metrics,
    logger,
    defaultNamespace: NS,
    policyDefaults: { minReplicas: 1, maxReplicas: 20, factorPercent: 20, scaleDownWindowMs: 30_000, scaleToZero: false, zeroDurationMs: 900_000, wakeTimeoutMs: 30_000 },
    requestDefaults: { concurrency: 0, maxQueued: config.maxQueued, requestTimeoutMs: config.requestTimeoutMs, maxWaitMs: 3_600_000 },
    eventLogSize: 1000,
    drainTimeoutMs: 30_000,
    shard: { count: 1, index: 0 },
  });
  const scalers = new Scalers({ engine, provider, logger, metrics, defaultNamespace: NS, tickMs: TICK_MS, activity: new InvocationLog(() => clock.now()), idleRecheckMs: 30_000 });
  await provider.start();
  await engine.dispatcher.track(ref);
  await clock.run(500);
  await scalers.start();
  await clock.run(offsetMs);
  const first = engine.dispatcher.tryAcquire(ref);
  const queuedAt = clock.now();
  const second = engine.dispatcher.acquire(ref);
  await clock.run(TICK_MS + 1);
  const up = engine.events.query().find((e) => e.action === 'scale_up');
  await scalers.stop();
  first?.release();
  (await second).release();
  engine.close();
  await provider.close();
  return (up?.time ?? Number.NaN) - queuedAt;
}

const REPLICA = `
import http from 'node:http';
http.createServer((req, res) => {
  const ms = Number(new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('ms') ?? 0);
  req.resume();
  req.on('end', () => setTimeout(() => res.end('ok'), ms));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function gatewayTrials(trials: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-policy-'));
  const script = join(dir, 'replica.mjs');
  writeFileSync(script, REPLICA);
  const stack = join(dir, 'stack.yml');
  writeFileSync(stack, `functions:\n  slow:\n    command: ["${process.execPath}", "${script}"]\n    labels:\n${Object.entries(LABELS).map(([k, v]) => `      ${k}: "${v}"`).join('\n')}\n`);
  const config = loadConfig({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_STACK: stack, ALERT_SCALER_LOG_LEVEL: 'silent', ALERT_SCALER_DRAIN_GRACE_MS: '1000' }, () => {
    throw new Error('no config file');
  });
  const s = await startScaler(config, { logger: silentLogger(), registry: new Registry() });
  const ref = { name: 'slow', namespace: NS };
  const out: number[] = [];
  try {
    await until(async () => (await s.provider.getReplicas(ref)).ready === 1, 20_000);
    for (let i = 0; i < trials; i++) {
      let queuedAt = 0;
      let upAt = 0;
      const offQueued = s.engine.dispatcher.onQueued(() => {
        if (queuedAt === 0) queuedAt = performance.now();
      });
      const offSink = s.engine.events.addSink((e) => {
        if (e.action === 'scale_up' && e.source === 'policy' && upAt === 0) upAt = performance.now();
      });
      const holding = get(`${s.url}/function/slow?ms=300`);
      await until(() => s.engine.dispatcher.replicas(ref).some((r) => r.inFlight > 0), 5_000);
      const waiting = get(`${s.url}/function/slow?ms=0`);
      await until(() => upAt !== 0, 5_000);
      await Promise.all([holding, waiting]);
      offQueued();
      offSink();
      out.push(upAt - queuedAt);
      const down = await s.engine.changer.change(ref, 'api', () => ({ replicas: 1, reason: 'bench-reset' }));
      await down.settled;
      await until(() => s.engine.dispatcher.replicas(ref).length === 1, 10_000);
    }
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Runs the virtual-clock trials (10 offsets within the tick) and `trials` real-gateway trials. */
export async function policyReactionBenchmark(opts: { trials?: number } = {}): Promise<PolicyReactionResult> {
  const offsets = Array.from({ length: 10 }, (_, i) => i * (TICK_MS / 10) + 37);
  const virtualHookMs: number[] = [];
  for (const offset of offsets) virtualHookMs.push(await virtualTrial(offset));
  return { name: 'policy-reaction', tickMs: TICK_MS, virtualHookMs, gatewayMs: await gatewayTrials(opts.trials ?? 20) };
}

function describe(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return `p50 ${at(0.5).toFixed(1)} ms, max ${(sorted.at(-1) ?? Number.NaN).toFixed(1)} ms (min ${(sorted[0] ?? Number.NaN).toFixed(1)}, n ${sorted.length})`;
}

export function policyReactionSummary(result: PolicyReactionResult): string {
  return [
    `policy reaction, queue forming -> replica asked for (queue kind, max-queue 0, tick ${result.tickMs} ms):`,
    `  virtual clock, queued event     ${describe(result.virtualHookMs)}`,
    `  real gateway (local provider)   ${describe(result.gatewayMs)}`,
  ].join('\n');
}
