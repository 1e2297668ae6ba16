import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { startScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { systemClock } from '../src/core/clock.js';
import { silentLogger } from '../src/log/logger.js';
import { MemoryProvider, type MemoryFunctionSpec } from '../src/providers/memory/index.js';
import type { FunctionInfo, FunctionRef, ReplicaInfo, ReplicaState } from '../src/providers/types.js';

/*
 * Idle footprint of the gateway itself: `functions` functions on the memory provider (no
 * process, no Kubernetes API: what is measured is the gateway's own work), composed by
 * startScaler (engine + createScaler, the provider override), no traffic. Each measure runs in
 * its own Node process (`--expose-gc`), so CPU and heap are that process's alone:
 *   heap     heapUsed after a full GC, once the provider is started (provider) and once the
 *            gateway has started (gateway); the same with 0 functions is the baseline, so
 *            (gateway(N) - gateway(0)) / N is the heap per function; the provider's part
 *            (provider(N) - provider(0)) / N and the Prometheus series' (what the registry's
 *            reset frees) are taken out of it for the engine's share
 *   idle     process.cpuUsage over `idleSeconds` after start-up, as a share of one core,
 *            then over SETTLED_SECONDS more (settled: V8's memory reducer collects the
 *            start-up's garbage with a full GC about 40 s after it, about 0.3 s of CPU
 *            on the main and GC helper threads, once; the settled window is the gateway's
 *            steady idle);
 *            policy evaluations (`scalers.stats()`) and provider reads in that window (0 is
 *            the target: idle functions cost nothing); entries on the timer heap
 * The functions cycle through the four kinds (rps, queue, free-workers, concurrency), min 1,
 * max 5; every second one is `scale.zero` with a 15 min zero-duration (its idle deadline sits
 * on the timer heap and does not fall in the window).
 */

export interface IdleFootprint {
  readonly functions: number;
  readonly idleSeconds: number;
  /** Share of one core over the idle window (0.01 = 1 %). */
  readonly idleCpuShare: number;
  /** Share of one core over the SETTLED_SECONDS after it; absent in older results. */
  readonly settledCpuShare?: number;
  readonly settledSeconds?: number;
  /** Policy evaluations during the idle window. */
  readonly idleEvaluations: number;
  /** Provider reads (listFunctions, getReplicas, listReplicas) during the idle window. */
  readonly idleProviderReads: number;
  /** Entries on the scalers' timer heap during the window. */
  readonly timers: number;
  /** Evaluations at start-up (each function read and evaluated once). */
  readonly startEvaluations: number;
  /** From startScaler's call to its return, ms. */
  readonly startMs: number;
  /** Heap per function, bytes: the gateway (provider, engine, scalers, metrics) over the 0-function baseline. */
  readonly heapPerFunctionBytes: number;
  /** Of which the memory provider's own state (not the gateway's). */
  readonly providerPerFunctionBytes: number;
  /** Of which the Prometheus series (about ten per function: settings, queue, replica and invocation gauges). */
  readonly seriesPerFunctionBytes: number;
  /** The rest: dispatcher entries, scalers, parsed policies, activity, timers. */
  readonly enginePerFunctionBytes: number;
  /** RSS of the measured process at the end, MB. */
  readonly rssMb: number;
}

/** What one child process reports. */
interface ChildReport {
  readonly functions: number;
  readonly providerHeap: number;
  readonly gatewayHeap: number;
  /** Heap after the registry's series were reset, after the window. */
  readonly withoutSeriesHeap: number;
  readonly idleCpuShare: number;
  readonly settledCpuShare: number;
  readonly idleEvaluations: number;
  readonly idleProviderReads: number;
  readonly timers: number;
  readonly startEvaluations: number;
  readonly startMs: number;
  readonly rssMb: number;
}

/** The settled window after the idle one, s. */
const SETTLED_SECONDS = 20;

/** CPU of this process (every thread) over `ms` of sleep, as a share of one core, 5 digits. */
async function cpuShareOfSleep(ms: number): Promise<number> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const used = process.cpuUsage(cpu);
  return Math.round(((used.user + used.system) / 1000 / (performance.now() - t0)) * 100_000) / 100_000;
}

const KINDS = ['rps', 'queue', 'free-workers', 'concurrency'] as const;

/** The memory provider, counting the reads the gateway makes. */
class CountingProvider extends MemoryProvider {
  reads = 0;

  override async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    this.reads += 1;
    return super.getReplicas(ref);
  }

  override async listFunctions(): Promise<FunctionInfo[]> {
    this.reads += 1;
    return super.listFunctions();
  }

  override listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    this.reads += 1;
    return super.listReplicas(ref);
  }
}

function specs(count: number): MemoryFunctionSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `fn-${i}`,
    namespace: 'openfaas-fn',
    replicas: 1,
    labels: {
      'com.openfaas.scale.type': KINDS[i % KINDS.length] ?? 'rps',
      'com.openfaas.scale.min': '1',
      'com.openfaas.scale.max': '5',
      ...(i % 2 === 1 ? { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '15m' } : {}),
    },
  }));
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('footprint-idle child: run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The measure itself, in the child process. */
async function child(functions: number, idleSeconds: number): Promise<ChildReport> {
  const provider = new CountingProvider({ clock: systemClock, functions: specs(functions) });
  await provider.start();
  const providerHeap = heapAfterGc();
  const config = loadConfig({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_LOG_LEVEL: 'silent' }, () => {
    throw new Error('no config file');
  });
  const began = performance.now();
  const registry = new Registry();
  const running = await startScaler(config, { provider, logger: silentLogger(), registry });
  const startMs = performance.now() - began;
  try {
    // Start-up's own promises and timers settle first.
    await sleep(2000);
    const gatewayHeap = heapAfterGc();
    const startEvaluations = running.scalers.stats().evaluations;
    const reads = provider.reads;
    const idleCpuShare = await cpuShareOfSleep(idleSeconds * 1000);
    const stats = running.scalers.stats();
    const readsIdle = provider.reads - reads;
    const settledCpuShare = await cpuShareOfSleep(SETTLED_SECONDS * 1000);
    const rssMb = Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;
    registry.resetMetrics();
    const withoutSeriesHeap = heapAfterGc();
    return {
      functions,
      providerHeap,
      gatewayHeap,
      withoutSeriesHeap,
      idleCpuShare,
      settledCpuShare,
      idleEvaluations: stats.evaluations - startEvaluations,
      idleProviderReads: readsIdle,
      timers: stats.timers,
      startEvaluations,
      startMs: Math.round(startMs),
      rssMb,
    };
  } finally {
    await running.close();
  }
}

function runChild(functions: number, idleSeconds: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), 'child', String(functions), String(idleSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (code !== 0) reject(new Error(`footprint-idle child (${functions} functions) exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ChildReport);
    });
  });
}

/** Measures `functions` idle functions against the 0-function baseline, each in its own process. */
export async function idleFootprint(opts: { functions?: number; idleSeconds?: number } = {}): Promise<IdleFootprint> {
  const functions = opts.functions ?? 10_000;
  const idleSeconds = opts.idleSeconds ?? 60;
  const base = await runChild(0, 1);
  const r = await runChild(functions, idleSeconds);
  const perFn = (a: number, b: number) => Math.round((a - b) / functions);
  const heapPerFunctionBytes = perFn(r.gatewayHeap, base.gatewayHeap);
  const providerPerFunctionBytes = perFn(r.providerHeap, base.providerHeap);
  const seriesPerFunctionBytes = perFn(r.gatewayHeap - r.withoutSeriesHeap, base.gatewayHeap - base.withoutSeriesHeap);
  return {
    functions,
    idleSeconds,
    idleCpuShare: r.idleCpuShare,
    settledCpuShare: r.settledCpuShare,
    settledSeconds: SETTLED_SECONDS,
    idleEvaluations: r.idleEvaluations,
    idleProviderReads: r.idleProviderReads,
    timers: r.timers,
    startEvaluations: r.startEvaluations,
    startMs: r.startMs,
    heapPerFunctionBytes,
    providerPerFunctionBytes,
    seriesPerFunctionBytes,
    enginePerFunctionBytes: heapPerFunctionBytes - providerPerFunctionBytes - seriesPerFunctionBytes,
    rssMb: r.rssMb,
  };
}

/** The idle figures for humans. */
export function idleFootprintSummary(r: IdleFootprint): string {
  const kb = (b: number) => `${(b / 1024).toFixed(2)} KB`;
  return [
    `idle footprint, ${r.functions} functions on the memory provider (startScaler, no traffic), over ${r.idleSeconds} s:`,
    `  CPU ${(r.idleCpuShare * 100).toFixed(3)} % of a core (V8's one-time GCs of the start-up included), settled over the next ${r.settledSeconds ?? '?'} s ${((r.settledCpuShare ?? Number.NaN) * 100).toFixed(3)} % (goal < 0.5 %); ${r.idleEvaluations} evaluations and ${r.idleProviderReads} provider reads in the window (goal 0); ${r.timers} timers on the heap`,
    `  heap per function ${kb(r.heapPerFunctionBytes)} (provider ${kb(r.providerPerFunctionBytes)}, Prometheus series ${kb(r.seriesPerFunctionBytes)}, engine ${kb(r.enginePerFunctionBytes)}: goal <= 4 KB); start ${r.startMs} ms, ${r.startEvaluations} evaluations; RSS ${r.rssMb} MB`,
  ].join('\n');
}

if (process.argv[2] === 'child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  child(Number(process.argv[3]), Number(process.argv[4])).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`footprint-idle child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
