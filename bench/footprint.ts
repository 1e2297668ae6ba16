import { percentiles, type Percentiles } from './cold-start.js';
import { startFakeCluster } from './fake-cluster.js';
import { idleFootprint, idleFootprintSummary, type IdleFootprint } from './footprint-idle.js';
import { FAKE_API_LATENCY_MS, echoServer, scaleRow, settledRss, startServedGateway, type ScaleRow, type ServedGateway } from './footprint-scale.js';
import { pacedRun } from './paced.js';
import { cpuShareOver, rssMb } from './support.js';
import { measureSteps, stepCalls } from './alert-budget.js';
import { notificationStreamApart } from './footprint-sender.js';

/*
 * Scale and footprint: N Deployments (1,000 and 10,000) on the fake Kubernetes API with 5 ms
 * added to every call (FAKE_API_LATENCY_MS), each with its pod and its Service's EndpointSlice
 * as a cluster has them, a gateway in its own process on the Kubernetes provider with pod
 * routing: every pod's address is one echo server on 127.0.0.1, so every function can be
 * called without N servers (bench/footprint-scale.ts starts and serves it).
 *   listed   gateway spawn → GET /system/functions lists all N
 *   served   gateway spawn → every function answered one call (32 at a time) with 200
 *   idle     RSS (VmRSS) after the calls, and CPU share of one core over `idleSeconds`
 *   settled  RSS once idle for `settleSeconds` (after V8's memory-reducing GC; settledRss),
 *            and the CPU share over the last 20 s of that settle
 *   load     RSS and CPU share during the proxy entry's fixed rate (500 calls/s, open loop)
 *   API calls per alert step: 40 notifications one at a time on functions the stream does
 *            not touch (firing then resolved per function: a step up, a step down), each
 *            step's calls counted until the API log is quiet (bench/alert-budget.ts): mean,
 *            p99 and max per step, mean by kind; lists, watches and the Lease excluded
 *   webhook  p50 / p99 of the webhook entry's stream (200/s over 100 of the functions), sent
 *            from a process of its own as Alertmanager sends (bench/footprint-sender.ts: the
 *            fake API's GC pauses in this process are not the gateway's), and the API calls
 *            made meanwhile per notification
 */

export interface FootprintRow {
  readonly functions: number;
  readonly listedMs: number;
  readonly servedMs: number;
  readonly idleRssMb: number;
  readonly idleCpuShare: number;
  readonly idleSeconds: number;
  /** RSS after `settleSeconds` of idling; absent in older results. */
  readonly settledRssMb?: number;
  /** CPU share over the last `settledCpuSeconds` of the settle; absent in older results. */
  readonly settledCpuShare?: number;
  readonly settledCpuSeconds?: number;
  readonly settleSeconds?: number;
  readonly loadRate: number;
  readonly loadRssMb: number;
  readonly loadCpuShare: number;
  readonly loadLatencyMs: Percentiles;
  readonly loadErrors: number;
  readonly webhookLatencyMs: Percentiles;
  readonly webhookStatuses: Record<string, number>;
  /** p99 event-loop delay of the process sending the webhook stream, ms; absent in older results (sent from the bench process). */
  readonly webhookSenderDelayP99Ms?: number;
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
  /** Listed, served and idle only, at the large size (50,000); absent when not run. */
  readonly large?: ScaleRow;
  /** The same functions without and with unrelated bare pods in their namespace; absent when not run. */
  readonly unrelated?: { readonly without: ScaleRow; readonly with: ScaleRow };
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
  /** Functions of the large row (listed, served, idle only); 0 skips it. */
  readonly largeFunctions?: number;
  /** Unrelated pods of the unrelated-pods row; 0 skips it. */
  readonly unrelatedPods?: number;
  /** Functions of the unrelated-pods row (run twice: without and with the pods). */
  readonly unrelatedFunctions?: number;
  /** Idle window of the large and unrelated-pods rows, s. */
  readonly scaleIdleSeconds?: number;
  /** Idle time after which RSS counts as settled, s (from the start of the idle window). */
  readonly settleSeconds?: number;
}

async function measure(functions: number, options: Required<FootprintOptions>): Promise<FootprintRow> {
  const echo = await echoServer();
  const cluster = await startFakeCluster({
    count: functions, replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' },
    latencyMs: FAKE_API_LATENCY_MS, podIp: '127.0.0.1', port: echo.port,
  });
  let gateway: ServedGateway | undefined;
  try {
    gateway = await startServedGateway(cluster, functions);
    const { pid, ticks, url, adminUrl, listedMs, servedMs } = gateway;

    const idleCpuShare = await cpuShareOver(pid, ticks, options.idleSeconds * 1000);
    const idleRssMb = rssMb(pid);
    const settled = await settledRss(pid, options.settleSeconds, options.idleSeconds * 1000, ticks);

    const loadRate = 500;
    const cpuDuring = cpuShareOver(pid, ticks, options.loadSeconds * 1000);
    const load = await pacedRun(`${url}/function/fn-0`, { rate: loadRate, seconds: options.loadSeconds, body: Buffer.alloc(64, 97) });
    const loadRssMb = rssMb(pid);
    const loadCpuShare = await cpuDuring;

    // Steps first: the stream's aggregated Events come due 30 s after it, not inside these steps.
    const steps = await measureSteps(cluster.fake, adminUrl, { steps: 40, from: Math.min(100, functions), functions });
    const streamFrom = cluster.fake.requests.length;
    const webhook = await notificationStreamApart(adminUrl, { rate: 200, seconds: options.webhookSeconds, functions: Math.min(100, functions) });
    const streamCalls = stepCalls(cluster.fake.requests.slice(streamFrom)).length;

    return {
      functions,
      listedMs,
      servedMs,
      idleRssMb,
      idleCpuShare,
      idleSeconds: options.idleSeconds,
      settledRssMb: settled.rssMb,
      settledCpuShare: settled.cpuShare,
      settledCpuSeconds: settled.cpuSeconds,
      settleSeconds: options.settleSeconds,
      loadRate,
      loadRssMb,
      loadCpuShare,
      loadLatencyMs: load.latencyMs,
      loadErrors: load.errors,
      webhookLatencyMs: percentiles(webhook.latencies),
      webhookStatuses: webhook.statuses,
      webhookSenderDelayP99Ms: webhook.senderLoopDelayP99Ms,
      apiCallsPerAlert: steps.mean,
      apiCallsPerAlertByKind: steps.byKind,
      apiCallsPerStepP99: steps.p99,
      apiCallsPerStepMax: steps.max,
      apiGetsInSteps: steps.gets,
      streamCallsPerNotification: Math.round((streamCalls / webhook.sent) * 100) / 100,
    };
  } finally {
    await gateway?.stop();
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
    largeFunctions: opts.largeFunctions ?? 50_000,
    unrelatedPods: opts.unrelatedPods ?? 20_000,
    unrelatedFunctions: opts.unrelatedFunctions ?? 10_000,
    scaleIdleSeconds: opts.scaleIdleSeconds ?? 20,
    settleSeconds: opts.settleSeconds ?? 120,
  };
  const idle = options.memoryFunctions > 0 ? await idleFootprint({ functions: options.memoryFunctions, idleSeconds: options.memoryIdleSeconds }) : undefined;
  const rows: FootprintRow[] = [];
  for (const size of options.sizes) rows.push(await measure(size, options));
  const large = options.largeFunctions > 0 ? await scaleRow(options.largeFunctions, { unrelatedPods: 0, idleSeconds: options.scaleIdleSeconds, settleSeconds: options.settleSeconds }) : undefined;
  let unrelated: FootprintResult['unrelated'];
  if (options.unrelatedPods > 0) {
    const without = await scaleRow(options.unrelatedFunctions, { unrelatedPods: 0, idleSeconds: options.scaleIdleSeconds, settleSeconds: options.settleSeconds });
    unrelated = { without, with: await scaleRow(options.unrelatedFunctions, { unrelatedPods: options.unrelatedPods, idleSeconds: options.scaleIdleSeconds, settleSeconds: options.settleSeconds }) };
  }
  return { name: 'footprint', ...(idle === undefined ? {} : { idle }), rows, ...(large === undefined ? {} : { large }), ...(unrelated === undefined ? {} : { unrelated }) };
}

/** The result for humans. */
export function footprintSummary(r: FootprintResult): string {
  const lines = [...(r.idle === undefined ? [] : [idleFootprintSummary(r.idle)]), ...(r.rows.length === 0 ? [] : [`scale and footprint (Kubernetes provider, fake API with ${FAKE_API_LATENCY_MS} ms per call, pod routing to one echo server):`])];
  for (const row of r.rows) {
    lines.push(
      `  ${row.functions} functions: listed ${(row.listedMs / 1000).toFixed(1)} s, all served ${(row.servedMs / 1000).toFixed(1)} s; idle RSS ${row.idleRssMb} MB (settled after ${row.settleSeconds ?? '?'} s: ${row.settledRssMb ?? '?'} MB), CPU ${(row.idleCpuShare * 100).toFixed(2)} % of a core over ${row.idleSeconds} s (settled: ${row.settledCpuShare === undefined ? '?' : (row.settledCpuShare * 100).toFixed(2)} % over the last ${row.settledCpuSeconds ?? '?'} s);` +
        ` at ${row.loadRate}/s RSS ${row.loadRssMb} MB, CPU ${(row.loadCpuShare * 100).toFixed(1)} %, p99 ${row.loadLatencyMs.p99.toFixed(2)} ms (${row.loadErrors} errors);` +
        ` webhook 200/s p50 ${row.webhookLatencyMs.p50.toFixed(1)} ms, p99 ${row.webhookLatencyMs.p99.toFixed(1)} ms (${row.streamCallsPerNotification ?? '?'} API calls per notification; sender's loop delay p99 ${row.webhookSenderDelayP99Ms ?? '?'} ms);` +
        ` API calls per alert step mean ${row.apiCallsPerAlert}, p99 ${row.apiCallsPerStepP99 ?? '?'}, max ${row.apiCallsPerStepMax ?? '?'}, GETs ${row.apiGetsInSteps ?? '?'}`,
    );
  }
  const scale = (row: ScaleRow): string =>
    `listed ${(row.listedMs / 1000).toFixed(1)} s, all served ${(row.servedMs / 1000).toFixed(1)} s; idle RSS ${row.idleRssMb} MB (settled after ${row.settleSeconds ?? '?'} s: ${row.settledRssMb ?? '?'} MB), CPU ${(row.idleCpuShare * 100).toFixed(2)} % of a core over ${row.idleSeconds} s (settled: ${row.settledCpuShare === undefined ? '?' : (row.settledCpuShare * 100).toFixed(2)} % over the last ${row.settledCpuSeconds ?? '?'} s); ${row.podsSent} pods sent by the API`;
  if (r.large !== undefined) lines.push(`  ${r.large.functions} functions (listed, served, idle only): ${scale(r.large)}`);
  if (r.unrelated !== undefined) {
    const { without, with: withPods } = r.unrelated;
    lines.push(`  ${withPods.unrelatedPods} unrelated pods beside ${without.functions} functions: RSS added ${((withPods.settledRssMb ?? withPods.idleRssMb) - (without.settledRssMb ?? without.idleRssMb)).toFixed(1)} MB (settled; ${(withPods.idleRssMb - without.idleRssMb).toFixed(1)} MB just after the calls)`);
    lines.push(`    without: ${scale(without)}`, `    with:    ${scale(withPods)}`);
  }
  return lines.join('\n');
}
