import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { configSchema } from '../../src/config/schema.js';
import { Random } from '../../src/sim/random.js';
import { formatCompare, formatTable, summaryJson } from '../../src/sim/report.js';
import { simulate, type RunResult } from '../../src/sim/run.js';
import { openTrace } from '../../src/sim/trace.js';
import { arrivals, stack } from './support.js';

/*
 * The simulator replays async calls (issue 21 acceptance: "the simulator can replay an async
 * trace too"): a trace row with async 1 is stored at once and delivered by the async pool
 * through the same dispatcher, and the stored calls are the backlog the queue kind reads.
 * All on the virtual clock.
 */

/** A queue-kind function: max-queue 5, concurrency 1, 1 to 4 replicas, 100 ms a call, idle after 2 s. */
const QUEUE_STACK = `
functions:
  fn:
    labels:
      com.openfaas.scale.type: queue
      com.openfaas.scale.max-queue: "5"
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "4"
      com.openfaas.scale.concurrency: "1"
      com.openfaas.scale.idle-timeout: 2s
    simulate:
      start: 1s
      service: 100ms
simulate:
  tick: 200ms
`;

const dir = mkdtempSync(join(tmpdir(), 'alert-scaler-sim-async-'));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** 500 async calls to `fn` within the first second (2 ms apart). */
const BURST = file('burst.csv', `time,function,duration,async\n${Array.from({ length: 500 }, (_, i) => `${(i * 0.002).toFixed(3)},fn,,1`).join('\n')}\n`);

/** Runs `stackText` on `trace` with the gateway's defaults changed by `env`-like config fields, sampling replicas every second. */
function runWith(stackText: string, trace: string, config: Record<string, unknown> = {}, seed = 1): Promise<RunResult> {
  const s = stack(stackText);
  return simulate({
    stack: s,
    trace: openTrace(trace, s.functions.map((f) => f.name), new Random(seed).fork(0)),
    seed,
    durationMs: null,
    keepEvents: false,
    config: configSchema.parse(config),
    sampleEveryMs: 1000,
  });
}

describe('simulate: async calls', () => {
  it('reads async 1/0 (also true/false, async/sync, empty) in a per-request trace and refuses anything else, naming the line', async () => {
    const { list } = await arrivals(file('flags.csv', 'time,function,duration,async\n0,a,,1\n0.1,a,50,0\n0.2,a,,true\n0.3,a,,\n0.4,a,,sync\n'), ['a']);
    expect(list).toEqual([
      { timeMs: 0, fn: 0, serviceMs: null, async: true },
      { timeMs: 100, fn: 0, serviceMs: 50 },
      { timeMs: 200, fn: 0, serviceMs: null, async: true },
      { timeMs: 300, fn: 0, serviceMs: null },
      { timeMs: 400, fn: 0, serviceMs: null },
    ]);
    await expect(arrivals(file('bad.csv', 'time,function,duration,async\n0,a,,maybe\n'), ['a'])).rejects.toThrow(/line 2: async "maybe"/);
    await expect(arrivals(file('wide.csv', 'time,function,duration\n0,a,,1\n'), ['a'])).rejects.toThrow(/line 2: more than 3 fields/);
  });

  it('a queue-kind function (max-queue 5) fed 500 async calls scales up on the backlog and back down when it drains; every call is delivered once', async () => {
    // Two deliveries at once (as the live backlog test): at most one call waits in the
    // dispatcher's own queue, so only the stored backlog can push the queue over 5.
    const result = await runWith(QUEUE_STACK, BURST, { asyncWorkers: 2 });
    const f = result.functions[0];
    expect(f?.async).toMatchObject({ accepted: 500, delivered: 500, deadLettered: 0 });
    // Async calls are never the sync calls' refusals or timeouts.
    expect(f).toMatchObject({ requests: 0, refused: 0, timedOut: 0 });
    expect(f?.peakReplicas).toBeGreaterThanOrEqual(3);
    const replicas = result.samples.map((s) => s.replicas[0] ?? 0);
    expect(replicas.at(-1)).toBe(1);
    // The peak came while calls were stored, and the function was back at 1 once they drained.
    const peakAt = replicas.indexOf(Math.max(...replicas));
    expect(replicas.slice(peakAt).some((n) => n === 1)).toBe(true);
    // 500 calls of 100 ms over at most 2 deliveries at once: 25 s at best; the last waited long.
    expect(f?.async?.delayMs.p99 ?? 0).toBeGreaterThan(10_000);
    expect(formatCompare([result, { ...result, stack: 'b.yml' }])).toContain('async calls, b.yml\nfunction');
    expect(formatTable(result)).toMatch(/async calls\nfunction +accepted +delivered +retries +deadLettered +delay p50\/p95\/p99 ms\nfn +500 +500 +\d+ +0 +[\d.]+\/[\d.]+\/[\d.]+\n/);
  });

  it('an rps-kind function, whose policy does not read the backlog, stays at 1 under the same calls: two deliveries at once leave next to nothing waiting in the dispatcher', async () => {
    // So the queue-kind function above scales on the stored backlog alone (it stays at 1 too
    // when the run passes no backlog to the scalers).
    const rps = QUEUE_STACK.replace('com.openfaas.scale.type: queue', 'com.openfaas.scale.type: rps').replace('      com.openfaas.scale.max-queue: "5"\n', '');
    const result = await runWith(rps, BURST, { asyncWorkers: 2 });
    expect(result.functions[0]?.async).toMatchObject({ accepted: 500, delivered: 500 });
    expect(result.functions[0]?.peakReplicas).toBe(1);
  });

  it('is deterministic: the same async trace and seed give the same bytes', async () => {
    const mixed = file('mixed.csv', `time,function,duration,async\n${Array.from({ length: 300 }, (_, i) => `${(i * 0.01).toFixed(2)},fn,,${i % 3 === 0 ? 1 : 0}`).join('\n')}\n`);
    const stackText = QUEUE_STACK.replace('service: 100ms', 'service: exp:80ms');
    const a = await runWith(stackText, mixed, { asyncWorkers: 2 }, 7);
    const b = await runWith(stackText, mixed, { asyncWorkers: 2 }, 7);
    expect(JSON.stringify(summaryJson(a))).toBe(JSON.stringify(summaryJson(b)));
    expect(formatTable(a)).toBe(formatTable(b));
    expect(a.functions[0]?.async?.accepted).toBe(100);
    expect(a.functions[0]?.requests).toBe(200);
  });

  it('a slow function\'s deep backlog does not hold back another function\'s async call: each takes at most twice max × concurrency of the pool', async () => {
    const two = `
functions:
  slow:
    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.max: "1", com.openfaas.scale.concurrency: "1" }
    simulate: { start: 1s, service: 1s }
  fast:
    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.max: "1", com.openfaas.scale.concurrency: "1" }
    simulate: { start: 1s, service: 10ms }
`;
    const trace = file('fair.csv', `time,function,duration,async\n${Array.from({ length: 50 }, (_, i) => `${(i * 0.001).toFixed(3)},slow,,1`).join('\n')}\n0.1,fast,,1\n`);
    const result = await runWith(two, trace, { asyncWorkers: 4 });
    expect(result.functions.map((f) => f.async?.delivered)).toEqual([50, 1]);
    // In turn with slow, not behind its 50 one-second calls (about 47 s in one global queue).
    expect(result.functions[1]?.async?.delayMs.p50 ?? Infinity).toBeLessThan(2000);
  });

  it('a call that always outlives its request timeout is retried up to the attempts, then dead-lettered', async () => {
    const slow = QUEUE_STACK.replace('service: 100ms', 'service: 5s').replace('      com.openfaas.scale.concurrency: "1"\n', '      com.openfaas.scale.concurrency: "1"\n      com.openfaas.request-timeout: 1s\n      com.openfaas.async.max-attempts: "2"\n');
    const result = await runWith(slow, file('two.csv', 'time,function,duration,async\n0,fn,,1\n0.5,fn,,1\n'), { asyncRetryBaseMs: 100 });
    expect(result.functions[0]?.async).toMatchObject({ accepted: 2, delivered: 0, retries: 2, deadLettered: 2, delayMs: { p50: null } });
  });
});
