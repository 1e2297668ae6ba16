// Runs benchmarks, writes bench/results/<entry>.json for each, prints a summary for humans and
// regenerates BENCHMARKS.md from every bench/results/*.json (bench/report.ts).
// `npm run bench` builds first and runs every entry but the soak; `npm run bench -- soak`
// (or any entry names, or BENCH_ONLY=a,b) runs those. Not a test: nothing is asserted.
import { asyncBenchmark, asyncSummary } from './async.js';
import { coldStartBenchmark, type ColdStartResult, type Percentiles } from './cold-start.js';
import { footprintBenchmark, footprintSummary } from './footprint.js';
import { h2Benchmark, h2Summary } from './h2.js';
import { metricsBenchmark, metricsSummary } from './metrics.js';
import { policyReactionBenchmark, policyReactionSummary } from './policy.js';
import { proxyBenchmark, proxyTable } from './proxy.js';
import { reactionBenchmark, reactionSummary } from './reaction.js';
import { writeReport } from './report.js';
import { shardBenchmark, shardSummary } from './shard.js';
import { simulateBenchmark, simulateSummary } from './simulate.js';
import { soakBenchmark, soakSummary } from './soak.js';
import { environment, numberEnv, writeResult } from './support.js';
import { webhookFloodBenchmark, type WebhookFloodResult } from './webhook-flood.js';
import { webhookBenchmark, webhookSummary } from './webhook.js';

const fmt = (p: Percentiles) => `p50 ${p.p50.toFixed(1)} ms, p95 ${p.p95.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms (min ${p.min.toFixed(1)}, max ${p.max.toFixed(1)})`;

function coldStartSummary(result: ColdStartResult): string {
  const h = result.held;
  return [
    `cold start, ${result.wakes} wakes from zero (${(result.durationMs / 1000).toFixed(1)} s), readiness ${result.readyPipe ? 'pipe (fd 3) and probes' : 'probes only'}:`,
    `  gateway: call at zero → answer   ${fmt(result.totalMs)}`,
    `  direct: spawn → listening → call → answer ${fmt(result.directMs)}`,
    `  overhead per wake (each side less its spawn → listening) ${fmt(result.overheadMs)}`,
    `  p50(gateway) - p50(direct), nothing subtracted ${result.rawOverheadP50Ms.toFixed(1)} ms`,
    `    call sent → spawn (hold, scale, port) ${fmt(result.sendToSpawnMs)}`,
    `    spawn → listening, gateway  ${fmt(result.spawnToListeningMs)}`,
    `    spawn → listening, direct   ${fmt(result.directSpawnToListeningMs)}`,
    `      of which spawn → Node start (gateway) ${fmt(result.spawnToProcessStartMs)}`,
    `    listening → call at the replica, gateway ${fmt(result.listeningToArrivalMs)}`,
    `    listening → call at the replica, direct  ${fmt(result.directListeningToArrivalMs)}`,
    `  warm request via gateway     ${fmt(result.warmMs)}`,
    `  ${h.calls} calls held at zero: ${h.ok} answered 200, failed ${JSON.stringify(h.failed)}; last answer ${h.totalMs} ms after the first send, queue drained ${h.drainMs} ms after the replica listened`,
  ].join('\n');
}

function floodSummary(result: WebhookFloodResult): string {
  const lines = result.rounds.map(
    (r, i) => `  round ${i + 1}: answered ${r.status} in ${r.webhookMs.toFixed(0)} ms; /healthz x${r.healthz.count} p50 ${r.healthz.p50.toFixed(1)} ms, max ${r.healthz.max.toFixed(1)} ms`,
  );
  return [
    `webhook flood, ${result.alerts} distinct alerts for one function (max ${result.maxReplicas}) in one notification (${(result.bodyBytes / 1024).toFixed(0)} KiB):`,
    ...lines,
    `  slowest answer ${result.maxWebhookMs.toFixed(0)} ms (goal < 1000), slowest /healthz ${result.maxHealthzMs.toFixed(1)} ms (goal < 100)`,
  ].join('\n');
}

const defined = <T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };

/** Each entry: runs, writes bench/results/<name>.json, returns its summary. Settings come from BENCH_* variables. */
const ENTRIES: Record<string, () => Promise<string>> = {
  'cold-start': async () => {
    const interval = process.env['BENCH_HEALTH_INTERVAL_MS'];
    const r = await coldStartBenchmark({ ...defined({ wakes: numberEnv('BENCH_WAKES'), heldCalls: numberEnv('BENCH_HELD_CALLS') }), readyPipe: process.env['BENCH_READY_PIPE'] !== '0', ...(interval === undefined ? {} : { env: { ALERT_SCALER_HEALTH_INTERVAL_MS: interval } }) });
    writeResult('cold-start', r);
    return coldStartSummary(r);
  },
  proxy: async () => {
    const baseline = process.env['BENCH_PROXY_BASELINE'];
    const cpuProf = process.env['BENCH_PROXY_CPU_PROF_DIR'];
    const r = await proxyBenchmark({
      ...defined({ seconds: numberEnv('BENCH_PROXY_SECONDS'), pacedSeconds: numberEnv('BENCH_PROXY_PACED_SECONDS'), clientRequests: numberEnv('BENCH_PROXY_CLIENT_REQUESTS') }),
      ...(baseline === undefined ? {} : { baselineMain: baseline }),
      ...(cpuProf === undefined ? {} : { cpuProfDir: cpuProf }),
      // BENCH_PROXY_WRK_THREADS=2 (or 1,2: the default) sets the wrk thread counts run.
      ...(process.env['BENCH_PROXY_WRK_THREADS'] === undefined ? {} : { wrkThreads: process.env['BENCH_PROXY_WRK_THREADS'].split(',').map(Number) }),
      // BENCH_PROXY_WORKERS=1,2 (the default; empty skips) the workers section; BENCH_PROXY_MAIN=0 runs that section alone.
      ...(process.env['BENCH_PROXY_WORKERS'] === undefined ? {} : { workers: process.env['BENCH_PROXY_WORKERS'].split(',').filter((v) => v.trim() !== '').map(Number) }),
      ...(process.env['BENCH_PROXY_MAIN'] === '0' ? { main: false } : {}),
    });
    writeResult('proxy', r);
    return proxyTable(r);
  },
  'webhook-flood': async () => {
    // Max 2: the webhook alone (one replica started); max 10: plus nine local replicas started.
    const floods = [await webhookFloodBenchmark({ maxReplicas: 2 }), await webhookFloodBenchmark({ maxReplicas: 10 })];
    writeResult('webhook-flood', floods);
    return floods.map(floodSummary).join('\n');
  },
  simulate: async () => {
    const r = await simulateBenchmark(defined({ requests: numberEnv('BENCH_SIMULATE_REQUESTS') }));
    writeResult('simulate', r);
    return simulateSummary(r);
  },
  policy: async () => {
    const r = await policyReactionBenchmark(defined({ trials: numberEnv('BENCH_POLICY_TRIALS') }));
    writeResult('policy', r);
    return policyReactionSummary(r);
  },
  h2: async () => {
    const r = await h2Benchmark(defined({ seconds: numberEnv('BENCH_H2_SECONDS'), streams: numberEnv('BENCH_H2_STREAMS') }));
    writeResult('h2', r);
    return h2Summary(r);
  },
  reaction: async () => {
    const r = await reactionBenchmark(defined({ trials: numberEnv('BENCH_REACTION_TRIALS'), rate: numberEnv('BENCH_REACTION_RATE') }));
    writeResult('reaction', r);
    return reactionSummary(r);
  },
  webhook: async () => {
    const r = await webhookBenchmark(defined({ seconds: numberEnv('BENCH_WEBHOOK_SECONDS'), rate: numberEnv('BENCH_WEBHOOK_RATE') }));
    writeResult('webhook', r);
    return webhookSummary(r);
  },
  footprint: async () => {
    // BENCH_FOOTPRINT_SIZES= (empty) runs no Kubernetes row; BENCH_FOOTPRINT_MEMORY_FUNCTIONS=0 no memory-provider idle measure;
    // BENCH_FOOTPRINT_LARGE=0 skips the 50,000-function row (about 3 min); BENCH_FOOTPRINT_UNRELATED_PODS=0 the unrelated-pods row;
    // BENCH_FOOTPRINT_SETTLE_SECONDS (default 120) is the idle time after which RSS counts as settled.
    const sizes = process.env['BENCH_FOOTPRINT_SIZES']?.split(',').filter((v) => v.trim() !== '').map(Number);
    const r = await footprintBenchmark(
      defined({
        sizes,
        memoryFunctions: numberEnv('BENCH_FOOTPRINT_MEMORY_FUNCTIONS'),
        memoryIdleSeconds: numberEnv('BENCH_FOOTPRINT_MEMORY_IDLE_SECONDS'),
        idleSeconds: numberEnv('BENCH_FOOTPRINT_IDLE_SECONDS'),
        loadSeconds: numberEnv('BENCH_FOOTPRINT_LOAD_SECONDS'),
        webhookSeconds: numberEnv('BENCH_FOOTPRINT_WEBHOOK_SECONDS'),
        largeFunctions: numberEnv('BENCH_FOOTPRINT_LARGE'),
        unrelatedPods: numberEnv('BENCH_FOOTPRINT_UNRELATED_PODS'),
        unrelatedFunctions: numberEnv('BENCH_FOOTPRINT_UNRELATED_FUNCTIONS'),
        scaleIdleSeconds: numberEnv('BENCH_FOOTPRINT_SCALE_IDLE_SECONDS'),
        settleSeconds: numberEnv('BENCH_FOOTPRINT_SETTLE_SECONDS'),
      }),
    );
    writeResult('footprint', r);
    return footprintSummary(r);
  },
  metrics: async () => {
    // BENCH_METRICS_SIZES=1000,10000 (the default), BENCH_METRICS_SCRAPES=10, BENCH_METRICS_ROUNDS=5 (the in-process A/B).
    const sizes = process.env['BENCH_METRICS_SIZES']?.split(',').filter((v) => v.trim() !== '').map(Number);
    const r = await metricsBenchmark(defined({ sizes, scrapes: numberEnv('BENCH_METRICS_SCRAPES'), rounds: numberEnv('BENCH_METRICS_ROUNDS') }));
    writeResult('metrics', r);
    return metricsSummary(r);
  },
  shard: async () => {
    const r = await shardBenchmark(defined({ functions: numberEnv('BENCH_SHARD_FUNCTIONS'), rate: numberEnv('BENCH_SHARD_RATE'), seconds: numberEnv('BENCH_SHARD_SECONDS') }));
    writeResult('shard', r);
    return shardSummary(r);
  },
  async: async () => {
    const r = await asyncBenchmark(defined({ calls: numberEnv('BENCH_ASYNC_CALLS'), connections: numberEnv('BENCH_ASYNC_CONNECTIONS') }));
    writeResult('async', r);
    return asyncSummary(r);
  },
  soak: async () => {
    const r = await soakBenchmark(defined({ minutes: numberEnv('BENCH_SOAK_MINUTES') }));
    writeResult('soak', r);
    return soakSummary(r);
  },
};

/** Every entry but the soak, in this order, when no name is given. */
const DEFAULT = ['cold-start', 'proxy', 'h2', 'webhook-flood', 'simulate', 'policy', 'reaction', 'webhook', 'footprint', 'metrics', 'shard', 'async'];

async function main(): Promise<void> {
  const named = [...process.argv.slice(2), ...(process.env['BENCH_ONLY']?.split(',') ?? [])].map((s) => s.trim()).filter((s) => s !== '');
  const chosen = named.length === 0 ? DEFAULT : named;
  const unknown = chosen.filter((n) => ENTRIES[n] === undefined);
  if (unknown.length > 0) throw new Error(`unknown bench entry ${unknown.join(', ')}; entries: ${Object.keys(ENTRIES).join(', ')}`);
  const env = environment();
  process.stdout.write(`node ${env.node}, ${env.cpus} x ${env.cpuModel}, load ${env.loadAverage.join(' ')}\n`);
  for (const name of chosen) {
    const run = ENTRIES[name];
    if (run === undefined) continue;
    const began = performance.now();
    process.stdout.write(`\n== ${name} ==\n`);
    process.stdout.write(`${await run()}\n  (${((performance.now() - began) / 1000).toFixed(1)} s)\n`);
  }
  process.stdout.write(`\nwrote ${writeReport()}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
