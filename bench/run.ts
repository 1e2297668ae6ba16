// Runs every benchmark, prints one JSON document, then a short summary for humans.
// `npm run bench` builds first and runs dist/bench/run.js. Not a test: nothing is asserted.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/bootstrap.js';
import { coldStartBenchmark, type ColdStartResult, type Percentiles } from './cold-start.js';
import { policyReactionBenchmark, policyReactionSummary, type PolicyReactionResult } from './policy.js';
import { proxyBenchmark, proxyTable, type ProxyResult } from './proxy.js';
import { simulateBenchmark, simulateSummary, type SimulateBenchResult } from './simulate.js';
import { webhookFloodBenchmark, writeFloodResults, type WebhookFloodResult } from './webhook-flood.js';

const fmt = (p: Percentiles) => `p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms (min ${p.min.toFixed(1)}, max ${p.max.toFixed(1)})`;

function summary(result: ColdStartResult): string {
  return [
    `cold start, ${result.wakes} wakes from zero (${(result.durationMs / 1000).toFixed(1)} s):`,
    `  first response (total)       ${fmt(result.totalMs)}`,
    `  replica's own start-to-ready ${fmt(result.replicaStartToReadyMs)}`,
    `  overhead (total - replica)   ${fmt(result.overheadMs)}`,
    `    of which spawn → Node start ${fmt(result.spawnToProcessStartMs)}`,
    `    the rest (hold, scale, probe, proxy) ${fmt(result.overheadWithoutExecMs)}`,
    `  direct spawn-to-ready        ${fmt(result.directSpawnToReadyMs)}`,
    `  total p50 - direct p50       ${result.overheadOverDirectSpawnP50Ms.toFixed(1)} ms`,
    `  warm request via gateway     ${fmt(result.warmMs)}`,
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

const numberEnv = (name: string): number | undefined => (process.env[name] === undefined ? undefined : Number(process.env[name]));

/** BENCH_ONLY=cold-start, proxy, webhook-flood, simulate or policy runs one benchmark; all by default. */
async function main(): Promise<void> {
  const only = process.env['BENCH_ONLY'];
  const environment = { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', loadAverage: os.loadavg() };
  const results: Array<ColdStartResult | ProxyResult | WebhookFloodResult | SimulateBenchResult | PolicyReactionResult> = [];
  const summaries: string[] = [];
  if (only === undefined || only === 'cold-start') {
    const wakes = numberEnv('BENCH_WAKES');
    const interval = process.env['BENCH_HEALTH_INTERVAL_MS'];
    const coldStart = await coldStartBenchmark({
      ...(wakes === undefined ? {} : { wakes }),
      ...(interval === undefined ? {} : { env: { ALERT_SCALER_HEALTH_INTERVAL_MS: interval } }),
    });
    results.push(coldStart);
    summaries.push(summary(coldStart));
  }
  if (only === undefined || only === 'proxy') {
    const seconds = numberEnv('BENCH_PROXY_SECONDS');
    const pacedSeconds = numberEnv('BENCH_PROXY_PACED_SECONDS');
    const baseline = process.env['BENCH_PROXY_BASELINE'];
    const cpuProf = process.env['BENCH_PROXY_CPU_PROF_DIR'];
    const proxy = await proxyBenchmark({
      ...(seconds === undefined ? {} : { seconds }),
      ...(pacedSeconds === undefined ? {} : { pacedSeconds }),
      ...(baseline === undefined ? {} : { baselineMain: baseline }),
      ...(cpuProf === undefined ? {} : { cpuProfDir: cpuProf }),
    });
    const dir = join(packageRoot(), 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'proxy.json'), JSON.stringify({ environment, result: proxy }, null, 2) + '\n');
    results.push(proxy);
    summaries.push(proxyTable(proxy));
  }
  if (only === undefined || only === 'webhook-flood') {
    // Max 2: the webhook alone (one replica started); max 10: plus nine local replicas started.
    const floods = [await webhookFloodBenchmark({ maxReplicas: 2 }), await webhookFloodBenchmark({ maxReplicas: 10 })];
    writeFloodResults(environment, floods);
    results.push(...floods);
    summaries.push(floods.map(floodSummary).join('\n'));
  }
  if (only === undefined || only === 'simulate') {
    const requests = numberEnv('BENCH_SIMULATE_REQUESTS');
    const simulated = await simulateBenchmark(requests === undefined ? {} : { requests });
    results.push(simulated);
    summaries.push(simulateSummary(simulated));
  }
  if (only === undefined || only === 'policy') {
    const trials = numberEnv('BENCH_POLICY_TRIALS');
    const policy = await policyReactionBenchmark(trials === undefined ? {} : { trials });
    results.push(policy);
    summaries.push(policyReactionSummary(policy));
  }
  process.stdout.write(JSON.stringify({ environment, results }, null, 2) + '\n\n');
  process.stdout.write(`node ${environment.node}, ${environment.cpus} x ${environment.cpuModel}\n${summaries.join('\n\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
