import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { summaryJson } from '../../src/sim/report.js';
import { run, stack } from './support.js';

/** One function, `replicas` fixed (min = max, so no alert changes it), concurrency 1, exponential service. */
const fixed = (replicas: number, service = 'exp:100ms') => `
functions:
  fn:
    labels:
      com.openfaas.scale.min: "${replicas}"
      com.openfaas.scale.max: "${replicas}"
      com.openfaas.scale.concurrency: "1"
    simulate:
      start: 1s
      service: ${service}
`;

/** Erlang C: probability that a call waits in an M/M/c queue with offered load a = λ/μ. */
function erlangC(c: number, a: number): number {
  let term = 1;
  let sum = 1;
  for (let k = 1; k < c; k++) {
    term *= a / k;
    sum += term;
  }
  const top = ((term * a) / c) * (c / (c - a));
  return top / (sum + top);
}

describe('simulate: checked against queueing theory', () => {
  it('M/M/5, λ = 40/s, S = 100 ms: waits follow Erlang C, P(W > t) = C·e^(−(cμ−λ)t), and busy replicas average λ·S = 4', async () => {
    const result = await run(fixed(5), 'builtin:poisson:40', { durationMs: 30 * 60_000 });
    const f = result.functions[0];
    if (f === undefined) throw new Error('no function');
    const c = 5;
    const lambda = 40;
    const mu = 10;
    const C = erlangC(c, lambda / mu); // 0.554
    const waitAt = (p: number) => (Math.log(C / (1 - p)) / (c * mu - lambda)) * 1000;
    expect(f.queued / f.requests).toBeCloseTo(C, 1);
    expect(f.waitMs.p95).not.toBeNull();
    expect(Math.abs((f.waitMs.p95 ?? 0) - waitAt(0.95)) / waitAt(0.95)).toBeLessThan(0.15); // 240 ms
    expect(Math.abs((f.waitMs.p99 ?? 0) - waitAt(0.99)) / waitAt(0.99)).toBeLessThan(0.15); // 402 ms
    // Little's law on the replicas: calls in service on average = λ·S = 4 (served per second × mean service time).
    const servedPerSecond = f.served / (result.endMs / 1000);
    expect(servedPerSecond * 0.1).toBeGreaterThan(3.8);
    expect(servedPerSecond * 0.1).toBeLessThan(4.2);
    expect(f.refused + f.timedOut).toBe(0);
  });

  it('M/M/1, λ = 8/s, μ = 10/s: a call waits with probability ρ = 0.8 and P(W > t) = ρ·e^(−(μ−λ)t)', async () => {
    const result = await run(fixed(1), 'builtin:poisson:8', { durationMs: 60 * 60_000, seed: 2 });
    const f = result.functions[0];
    if (f === undefined) throw new Error('no function');
    const rho = 0.8;
    const waitAt = (p: number) => (Math.log(rho / (1 - p)) / (10 - 8)) * 1000;
    expect(f.queued / f.requests).toBeCloseTo(rho, 1);
    expect(Math.abs((f.waitMs.p50 ?? 0) - waitAt(0.5)) / waitAt(0.5)).toBeLessThan(0.2); // 235 ms
    expect(Math.abs((f.waitMs.p95 ?? 0) - waitAt(0.95)) / waitAt(0.95)).toBeLessThan(0.15); // 1386 ms
  });

});

describe('simulate: the policy kinds through the gateway\'s PolicyLoop', () => {
  const lambda = 40; // calls per second
  const serviceS = 0.1;
  const target = 1;
  const concurrencyStack = `
functions:
  fn:
    labels:
      com.openfaas.scale.type: concurrency
      com.openfaas.scale.target: "${target}"
      com.openfaas.scale.concurrency: "1"
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "20"
    simulate: { start: 1s, service: 100ms }
`;
  /** Ten minutes of Poisson 40/s; replicas sampled every 100 ms, so a sample mean is a time-weighted mean. */
  const settled = async () => {
    const result = await run(concurrencyStack, `builtin:poisson:${lambda}`, { durationMs: 10 * 60_000, sampleEveryMs: 100 });
    // Settled: past the warm-up and one 60 s stable window after it.
    const counts = result.samples.filter((s) => s.t >= 120_000).map((s) => s.replicas[0] ?? 0);
    return { result, counts, mean: counts.reduce((a, b) => a + b, 0) / counts.length };
  };

  it('a constant Poisson load of 40 req/s with 100 ms service time and concurrency 1 under the `concurrency` policy with target 1 never settles below λ·S / target = 4 replicas (Little\'s law: 4 busy on average) and serves every call', async () => {
    const { result, counts, mean } = await settled();
    const f = result.functions[0];
    if (f === undefined) throw new Error('no function');
    expect(Math.min(...counts)).toBeGreaterThanOrEqual((lambda * serviceS) / target);
    expect(mean).toBeGreaterThan(4);
    expect(f.served).toBe(f.requests);
    expect(f.refused + f.timedOut).toBe(0);
    // The loop decided (source policy): it went up from 1 by itself.
    expect(f.peakReplicas).toBeGreaterThan(4);
  });

  // The issue asks for 4-5 replicas under Poisson 40/s. With observed = in flight + waiting
  // (the issue's own definition, and Knative's), Little's law on the whole system gives
  // L = λ·(S + Wq(c)): about 5.1 at 5 replicas and 4.3 at 6 (M/D/c), so a Poisson load settles
  // between 5 and 6, and the 6 s panic window lifts it further on bursts (measured: mean 6.6,
  // 4..11). Where arrivals do not queue, L = λ·S exactly, and it settles at 4-5:
  it('a constant 40 req/s (one call every 25 ms) with 100 ms service time and concurrency 1 under the `concurrency` policy with target 1 settles at 4-5 replicas (Little\'s law: L = λ·S = 4 when nothing waits; time-weighted mean over the settled part)', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'sim-run-')), 'constant.csv');
    const minutes = 5;
    const rows = Array.from({ length: minutes * 60 * lambda }, (_, i) => `${(i / lambda).toFixed(3)},fn`);
    writeFileSync(trace, `time,function\n${rows.join('\n')}\n`);
    const result = await run(concurrencyStack, trace, { durationMs: minutes * 60_000, sampleEveryMs: 100 });
    const counts = result.samples.filter((s) => s.t >= 120_000).map((s) => s.replicas[0] ?? 0);
    const mean = counts.reduce((sum, n) => sum + n, 0) / counts.length;
    expect(mean).toBeGreaterThanOrEqual((lambda * serviceS) / target);
    expect(mean).toBeLessThanOrEqual((lambda * serviceS) / target + 1);
    expect(result.functions[0]?.served).toBe(result.functions[0]?.requests);
  });

  it('a `queue` function (max-queue 2, step 2, max 5, idle-timeout 20s) given 20 calls of 10 s at once steps 1 → 3 → 5 one start apart, serves 15 within the 30 s queue deadline, and drops back to 1 as each replica passes 20 s idle', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'sim-run-')), 'burst.csv');
    writeFileSync(trace, `time,function\n${'0,q\n'.repeat(20)}`);
    const text = `
functions:
  q:
    labels: { com.openfaas.scale.type: queue, com.openfaas.scale.min: "1", com.openfaas.scale.max: "5", com.openfaas.scale.max-queue: "2", com.openfaas.scale.step: "2", com.openfaas.scale.idle-timeout: 20s, com.openfaas.scale.concurrency: "1" }
    simulate: { start: 1s, service: 10s }
`;
    const result = await run(text, trace, { durationMs: 90_000, keepEvents: true, sampleEveryMs: 1000 });
    const f = result.functions[0];
    if (f === undefined) throw new Error('no function');
    const decisions = result.events.filter((e) => e.source === 'policy' && (e.action === 'scale_up' || e.action === 'scale_down')).map((e) => [e.time, e.action, e.from, e.to, e.reason]);
    // The first replica starts with the run and is ready at 1 s: until then the calls wait
    // for no replica, which `queue` does not count. At 1 s 19 wait busy (> 2): +2, ready at
    // 2 s, when 17 wait and nothing starts: +2 (max 5), ready at 3 s.
    // Waves of 10 s: the replica ready at 1 s takes calls at 1, 11, 21 s, the two ready at
    // 2 s at 2, 12, 22 s, the two ready at 3 s at 3, 13, 23 s: 15 calls. The other 5 would
    // start after 30 s in the queue (the wake timeout, 30 s by default): timed out.
    // Last calls end at 31, 32 and 33 s; each replica may go 20 s later, newest first, at
    // the next tick, never below min 1.
    expect(decisions).toEqual([
      [1_000, 'scale_up', 1, 3, 'step-up'],
      [2_000, 'scale_up', 3, 5, 'step-up'],
      [51_000, 'scale_down', 5, 4, 'idle'],
      [52_000, 'scale_down', 4, 2, 'idle'],
      [53_000, 'scale_down', 2, 1, 'idle'],
    ]);
    expect([f.requests, f.served, f.timedOut, f.queued, f.peakReplicas]).toEqual([20, 15, 5, 20, 5]);
    expect(f.waitMs.p99).toBe(23_000);
    expect(result.samples.at(-1)?.replicas).toEqual([1]);
  });
});

describe('simulate: determinism', () => {
  const text = `
functions:
  api:
    labels: { com.openfaas.scale.max: "6", com.openfaas.scale.concurrency: "2" }
    simulate: { start: "uniform:1s-3s", service: "exp:120ms" }
  zero:
    labels: { com.openfaas.scale.min: "0", com.openfaas.scale.zero: "true", com.openfaas.scale.zero-duration: "1m" }
    simulate: { start: "exp:2s", service: "50ms" }
  kpa:
    labels: { com.openfaas.scale.type: concurrency, com.openfaas.scale.target: "2", com.openfaas.scale.max: "8" }
    simulate: { start: "uniform:500ms-2s", service: "exp:200ms" }
`;

  it('gives byte-identical results, events included, for the same input and seed, and others for another seed', async () => {
    const a = await run(text, 'builtin:spike', { seed: 11, keepEvents: true });
    const b = await run(text, 'builtin:spike', { seed: 11, keepEvents: true });
    const c = await run(text, 'builtin:spike', { seed: 12, keepEvents: true });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(summaryJson(c))).not.toBe(JSON.stringify(summaryJson(a)));
    expect(a.events.length).toBeGreaterThan(0);
  });
});

describe('simulate: wake and idle through the change cycle', () => {
  it('a scale.zero function is idled after its zero-duration and woken by the next call; every call is served', async () => {
    const text = `
functions:
  rare:
    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.zero: "true", com.openfaas.scale.zero-duration: "2m" }
    simulate: { start: "2s", service: "100ms" }
`;
    const result = await run(text, 'builtin:sparse', { keepEvents: true, seed: 3 });
    const f = result.functions[0];
    if (f === undefined) throw new Error('no function');
    const idles = result.events.filter((e) => e.source === 'idler' && e.action === 'scale_down' && e.reason === 'idle');
    const wakes = result.events.filter((e) => e.source === 'waker' && e.action === 'scale_up' && e.reason === 'wake');
    expect(idles.length).toBeGreaterThan(1);
    expect(wakes.length).toBe(f.coldStarts);
    expect(f.coldStarts).toBeGreaterThanOrEqual(idles.length - 1);
    expect(f.served).toBe(f.requests);
    // The first call of a burst waits for the 2 s start: the slowest waits are about that.
    expect(f.waitMs.p99).toBeGreaterThan(1900);
    expect(f.waitMs.p99).toBeLessThanOrEqual(2000);
    // Idle before the wake; each idle decision came at least zero-duration after the last call before it.
    expect(f.meanReplicas).toBeLessThan(0.5);
  });

  it('calls queued longer than the zero-duration keep the function up, and the run ends', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'sim-run-')), 'burst.csv');
    writeFileSync(trace, 'time,function\n0,slow\n0,slow\n0,slow\n');
    const text = `
functions:
  slow:
    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.max: "1", com.openfaas.scale.concurrency: "1", com.openfaas.scale.zero: "true", com.openfaas.scale.zero-duration: "10s" }
    simulate: { start: "0s", service: "14s" }
`;
    const result = await run(text, trace, { keepEvents: true, durationMs: 120_000 });
    const idle = result.events.find((e) => e.source === 'idler' && e.action === 'scale_down');
    // The third call waits 28 s and ends at 42 s: no idling before 42 s + 10 s.
    expect(idle?.time).toBeGreaterThanOrEqual(52_000);
    expect(result.functions[0]?.served).toBe(3);
  });

  it('a function at max takes no alert step and a refused call is counted as refused, not queued', async () => {
    const text = `
functions:
  tight:
    labels: { com.openfaas.scale.min: "1", com.openfaas.scale.max: "1", com.openfaas.scale.concurrency: "1", com.openfaas.scale.max-queued: "2" }
    simulate: { start: "1s", service: "1s" }
`;
    const result = await run(text, 'builtin:poisson:5', { durationMs: 60_000 });
    const f = result.functions[0];
    if (f === undefined) throw new Error('no function');
    expect(f.refused).toBeGreaterThan(0);
    expect(f.peakReplicas).toBe(1);
    expect(f.served + f.refused + f.timedOut).toBe(f.requests);
  });
});

describe('simulate: the stack\'s policy settings', () => {
  it('lists every bad policy label and a bad tick as CONFIG_INVALID naming where they are, and reads a good tick', () => {
    const bad = `
simulate: { tick: never }
functions:
  q:
    labels: { com.openfaas.scale.type: "lottery", com.openfaas.scale.max-queue: "-1" }
`;
    expect(() => stack(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    try {
      stack(bad);
    } catch (err) {
      const problems = (err as { details: { problems: string[] } }).details.problems;
      expect(problems.some((p) => p.includes('functions.q') && p.includes('com.openfaas.scale.type'))).toBe(true);
      expect(problems.some((p) => p.includes('functions.q') && p.includes('com.openfaas.scale.max-queue'))).toBe(true);
      expect(problems.some((p) => p.includes('simulate.tick'))).toBe(true);
    }
    expect(stack('simulate: { tick: 250ms }\nfunctions: { q: { labels: { com.openfaas.scale.type: queue } } }\n').policyTickMs).toBe(250);
    expect(stack('functions: { q: {} }\n').policyTickMs).toBe(1000);
  });
});
