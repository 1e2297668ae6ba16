import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyDefaults, requestDefaults } from '../src/config/defaults.js';
import { packageRoot } from '../src/config/package-root.js';
import { configSchema } from '../src/config/schema.js';
import { shippedAlerting } from '../src/sim/alerting.js';
import { Random } from '../src/sim/random.js';
import { simulate } from '../src/sim/run.js';
import { parseSimStack } from '../src/sim/stack.js';
import { openTrace } from '../src/sim/trace.js';

/*
 * Simulator speed: a 24-hour per-request trace of 1,000,000 calls over 100 functions
 * (popularity Zipf with exponent 1.3, so the busiest function peaks above the alert
 * threshold; arrival times follow the diurnal shape 1 − 0.8 cos(2π t / 24 h)), written as
 * a CSV and replayed through `simulate` (read, dispatch, alerts, idle, wake, and the policy
 * loop ticking every second for the 40 `concurrency` and `queue` functions). The wall time
 * covers reading the file and the run, not writing it.
 */

export interface SimulateBenchResult {
  readonly benchmark: 'simulate';
  readonly requests: number;
  readonly functions: number;
  readonly simulatedHours: number;
  readonly wallMs: number;
  /** CPU time of this process (user + system) during the run, ms; absent in older results. */
  readonly cpuMs?: number;
  /** Highest RSS sampled every 50 ms during the run, MB (this process: the bench runner too); absent in older results. */
  readonly peakRssMb?: number;
  /** RSS just before the run, MB. */
  readonly rssBeforeMb?: number;
  readonly requestsPerSecond: number;
  readonly events: number;
  readonly served: number;
  readonly peakReplicas: number;
}

const DAY_MS = 24 * 3_600_000;

async function writeTrace(path: string, requests: number, names: readonly string[], random: Random): Promise<void> {
  const times = new Float64Array(requests);
  for (let i = 0; i < requests; ) {
    const t = random.next() * DAY_MS;
    if (random.next() * 1.8 < 1 - 0.8 * Math.cos((2 * Math.PI * t) / DAY_MS)) times[i++] = t;
  }
  times.sort();
  const weights = names.map((_, i) => 1 / (i + 1) ** 1.3);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) cumulative.push((acc += w / total));
  const pick = (u: number): number => {
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const out = createWriteStream(path);
  out.write('time,function\n');
  let chunk: string[] = [];
  for (const t of times) {
    chunk.push(`${(t / 1000).toFixed(3)},${names[pick(random.next())] ?? ''}\n`);
    if (chunk.length === 10_000) {
      if (!out.write(chunk.join(''))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = [];
    }
  }
  out.write(chunk.join(''));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

function stackText(names: readonly string[]): string {
  const lines = ['functions:'];
  names.forEach((name, i) => {
    lines.push(`  ${name}:`, '    labels:');
    lines.push(`      com.openfaas.scale.max: "20"`);
    if (i % 2 === 1) lines.push(`      com.openfaas.scale.zero: "true"`, `      com.openfaas.scale.zero-duration: "5m"`);
    if (i % 3 === 0) lines.push(`      com.openfaas.scale.concurrency: "4"`);
    // A fifth of the functions follow the policy loop (concurrency), a fifth queue; the rest alerts (rps).
    if (i % 5 === 2) lines.push(`      com.openfaas.scale.type: concurrency`, `      com.openfaas.scale.target: "2"`);
    if (i % 5 === 4) lines.push(`      com.openfaas.scale.type: queue`, `      com.openfaas.scale.max-queue: "2"`, `      com.openfaas.scale.idle-timeout: "2m"`);
    lines.push('    simulate:', '      start: uniform:1s-3s', '      service: exp:100ms');
  });
  return `${lines.join('\n')}\n`;
}

/** Writes the trace, runs it once and reports the wall time of the run. */
export async function simulateBenchmark(options: { requests?: number; functions?: number; seed?: number } = {}): Promise<SimulateBenchResult> {
  const requests = options.requests ?? 1_000_000;
  const count = options.functions ?? 100;
  const seed = options.seed ?? 1;
  const names = Array.from({ length: count }, (_, i) => `fn-${String(i).padStart(3, '0')}`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-simulate-'));
  try {
    const tracePath = join(dir, 'trace.csv');
    await writeTrace(tracePath, requests, names, new Random(seed).fork(99));
    const config = configSchema.parse({});
    const stack = parseSimStack(stackText(names), 'bench-stack.yml', {
      defaultNamespace: config.defaultNamespace,
      policyDefaults: policyDefaults(config),
      requestDefaults: requestDefaults(config),
      shipped: () => shippedAlerting(packageRoot()),
    });
    let events = 0;
    const rssBefore = process.memoryUsage.rss();
    let peakRss = rssBefore;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
    const cpu = process.cpuUsage();
    const started = performance.now();
    let result: Awaited<ReturnType<typeof simulate>>;
    try {
      result = await simulate({ stack, trace: openTrace(tracePath, names, new Random(seed).fork(0)), seed, durationMs: null, keepEvents: true, config });
    } finally {
      clearInterval(sampler);
    }
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
    events = result.events.length;
    const total = result.functions.reduce((a, f) => a + f.requests, 0);
    return {
      benchmark: 'simulate',
      requests: total,
      functions: count,
      simulatedHours: result.endMs / 3_600_000,
      wallMs,
      cpuMs: Math.round((used.user + used.system) / 1000),
      peakRssMb: mb(peakRss),
      rssBeforeMb: mb(rssBefore),
      requestsPerSecond: total / (wallMs / 1000),
      events,
      served: result.functions.reduce((a, f) => a + f.served, 0),
      peakReplicas: Math.max(...result.functions.map((f) => f.peakReplicas)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The human summary line of the benchmark. */
export function simulateSummary(r: SimulateBenchResult): string {
  return [
    `simulate, ${r.requests} calls over ${r.functions} functions, ${r.simulatedHours.toFixed(1)} h of trace (goal <= 10 s):`,
    `  wall time ${(r.wallMs / 1000).toFixed(1)} s (CPU ${((r.cpuMs ?? Number.NaN) / 1000).toFixed(1)} s), ${Math.round(r.requestsPerSecond)} calls/s simulated; peak RSS ${r.peakRssMb ?? '?'} MB (${r.rssBeforeMb ?? '?'} MB before)`,
    `  ${r.served} served, ${r.events} events, peak ${r.peakReplicas} replicas`,
  ].join('\n');
}
