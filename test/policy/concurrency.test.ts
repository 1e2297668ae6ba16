import { describe, expect, it } from '@jest/globals';
import type { PolicyInput, ReplicaRow } from '../../src/policy/decision.js';
import { decide, EMPTY_POLICY_MEMORY, type PolicyMemory } from '../../src/policy/index.js';
import type { PolicySpec } from '../../src/policy/spec.js';
import { NOW, spec } from './support/rows.js';

// The Code Engine example: min 4, max 20, concurrency 2 (the target defaults to it).
const CODE_ENGINE = spec({ 'com.openfaas.scale.type': 'concurrency', 'com.openfaas.scale.min': '4', 'com.openfaas.scale.max': '20', 'com.openfaas.scale.concurrency': '2' });
const MIN_0 = spec({ 'com.openfaas.scale.type': 'concurrency', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '50', 'com.openfaas.scale.target': '10' });

/** `desired` ready replicas sharing `inFlight` requests, plus `waiting` queued busy. */
function load(desired: number, inFlight: number, waiting: number, now: number): PolicyInput {
  const replicas: ReplicaRow[] = [];
  for (let i = 0; i < desired; i++) {
    const share = Math.floor(inFlight / desired) + (i < inFlight % desired ? 1 : 0);
    replicas.push({ id: `r${i}`, phase: 'ready', inFlight: share, lastRequestEnd: null, createdAt: 0, draining: false });
  }
  return { replicas, queued: { busy: waiting, no_replica: 0 }, desired, now };
}

/** Runs one decision per second; observed(t) gives [inFlight, waiting] at second t. The count is applied at once. */
function run(policy: PolicySpec, start: number, seconds: number, observed: (t: number) => [number, number]) {
  let desired = start;
  let memory: PolicyMemory = EMPTY_POLICY_MEMORY;
  const trace: Array<{ t: number; replicas: number; reason: string; panicking: unknown }> = [];
  for (let t = 0; t < seconds; t++) {
    const [inFlight, waiting] = observed(t);
    const out = decide(policy, load(desired, inFlight, waiting, NOW + t * 1000), memory);
    memory = out.memory;
    desired = out.decision.replicas;
    trace.push({ t, replicas: desired, reason: out.decision.reason, panicking: out.decision.inputs['panicking'] });
  }
  return trace;
}

describe('concurrency policy (Code Engine / Knative)', () => {
  const single: Array<[string, PolicySpec, PolicyInput, number, string]> = [
    ['with no traffic it stays at min', CODE_ENGINE, load(4, 0, 0, NOW), 4, 'unchanged'],
    ['desired is ceil(observed / target) within min and max: 9 in flight at target 2 on 4 replicas → 5', CODE_ENGINE, load(4, 8, 1, NOW), 5, 'scale-up'],
    ['observed counts waiting requests too: 60 waiting is capped at max 20 and panics', CODE_ENGINE, load(4, 8, 52, NOW), 20, 'panic'],
    ['at 0 with min 0 a waiting request wakes the function to 1', MIN_0, { replicas: [], queued: { busy: 0, no_replica: 1 }, desired: 0, now: NOW }, 1, 'scale-up'],
    ['below min (min raised) goes up to min', CODE_ENGINE, load(2, 0, 0, NOW), 4, 'scale-up'],
  ];
  it.each(single)('%s', (_name, policy, given, replicas, reason) => {
    const { decision } = decide(policy, given);
    expect(decision.replicas).toBe(replicas);
    expect(decision.reason).toBe(reason);
  });

  it('a burst of twice the target on the ready replicas starts panic at once; steady load is followed by the stable window', () => {
    // 4 replicas at target 2: panic needs ceil(panic avg / 2) / 4 >= 2, i.e. a panic average above 14.
    const steady = run(CODE_ENGINE, 4, 30, () => [12, 0]);
    expect(steady.every((s) => s.panicking === false)).toBe(true);
    expect(steady.at(-1)?.replicas).toBe(6);
    const burst = run(CODE_ENGINE, 4, 2, () => [8, 52]);
    expect(burst[0]).toMatchObject({ replicas: 20, reason: 'panic', panicking: true });
  });

  it('while panicking desired never drops, and panic ends one stable window after the threshold was last crossed', () => {
    // A 60-request burst for 10 s: on 20 replicas the panic window no longer crosses 2x after t=0.
    const trace = run(CODE_ENGINE, 4, 140, (t) => (t < 10 ? [40, 20] : [0, 0]));
    expect(trace.slice(0, 61).every((s) => s.replicas === 20 && s.panicking === true)).toBe(true);
    expect(trace.find((s) => s.t === 30)).toMatchObject({ reason: 'panic-hold' });
    expect(trace.find((s) => s.panicking === false)).toMatchObject({ t: 61, replicas: 4, reason: 'scale-down' });
  });

  it('panic is extended while the panic window still crosses the threshold', () => {
    // 200 in flight for 10 s: at 20 replicas the 6 s window crosses 2x (a mean above 78) until t=12.
    const trace = run(CODE_ENGINE, 4, 100, (t) => (t < 10 ? [200, 0] : [0, 0]));
    expect(trace.find((s) => s.panicking === false)?.t).toBe(73);
    expect(trace.slice(0, 73).every((s) => s.replicas === 20)).toBe(true);
  });

  it('a shorter stable window (label window) shortens the panic window, the panic and the way down alike', () => {
    const short = spec({ 'com.openfaas.scale.type': 'concurrency', 'com.openfaas.scale.min': '4', 'com.openfaas.scale.max': '20', 'com.openfaas.scale.concurrency': '2', 'com.openfaas.scale.window': '6s' });
    const trace = run(short, 4, 40, (t) => (t < 10 ? [40, 20] : [0, 0]));
    expect(trace[0]).toMatchObject({ replicas: 20, reason: 'panic' });
    // On 20 replicas the burst no longer crosses twice the ready count: panic ends one 6 s
    // window later (60 s by default), while the stable average still asks for 20.
    expect(trace.find((s) => s.panicking === false)?.t).toBe(7);
    expect(trace.slice(0, 10).every((s) => s.replicas === 20)).toBe(true);
    // The 6 s stable average lets go of the load within 6 s of its end.
    const back = trace.find((s) => s.replicas === 4)?.t ?? -1;
    expect(back).toBeGreaterThan(10);
    expect(back).toBeLessThanOrEqual(16);
  });

  it('a lower count applies only after it held for the scale-down delay', () => {
    const delayed = { ...CODE_ENGINE, downWindowMs: 20_000 };
    // 20 in flight for 60 s → 10 replicas, then 4 in flight → stable average falls slowly.
    const trace = run(delayed, 4, 200, (t) => (t < 60 ? [20, 0] : [0, 0]));
    const without = run(CODE_ENGINE, 4, 200, (t) => (t < 60 ? [20, 0] : [0, 0]));
    const firstDown = (tr: typeof trace) => tr.find((s) => s.t >= 60 && s.replicas < 10)?.t ?? -1;
    expect(firstDown(trace) - firstDown(without)).toBe(20);
    expect(trace.some((s) => s.reason === 'down-delayed')).toBe(true);
    expect(trace.at(-1)?.replicas).toBe(4);
  });

  it('with min 0 it goes back to zero about a minute after the last request', () => {
    const trace = run(MIN_0, 1, 120, (t) => (t < 5 ? [3, 0] : [0, 0]));
    const zero = trace.find((s) => s.replicas === 0);
    expect(zero?.t).toBeGreaterThanOrEqual(60);
    expect(zero?.t).toBeLessThanOrEqual(66);
    expect(trace.slice(0, 60).every((s) => s.replicas >= 1)).toBe(true);
  });

  it('max 0 means the global ceiling: a big burst goes up to it', () => {
    const unlimited = spec({ 'com.openfaas.scale.type': 'concurrency', 'com.openfaas.scale.max': '0', 'com.openfaas.scale.target': '1' });
    const { decision } = decide(unlimited, load(1, 1, 500, NOW));
    expect(decision.replicas).toBe(100);
  });

  it('memory stays bounded by the stable window', () => {
    let memory: PolicyMemory = EMPTY_POLICY_MEMORY;
    for (let t = 0; t < 600; t++) memory = decide(CODE_ENGINE, load(4, 1, 0, NOW + t * 250), memory).memory;
    expect(memory.concurrency.buckets.length).toBeLessThanOrEqual(60);
  });
});

describe('concurrency policy: averages over time, not over decisions', () => {
  // Each second: 2 requests for 900 ms, then 10 for 100 ms. The time-weighted mean is
  // 0.9·2 + 0.1·10 = 2.8. Decisions are taken once a second (at a quiet instant) and also
  // three times inside every spike (as when queued requests ask for an evaluation).
  const TARGET_1 = spec({ 'com.openfaas.scale.type': 'concurrency', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '50', 'com.openfaas.scale.target': '1' });
  const level = (ms: number): number => (ms % 1000 >= 900 ? 10 : 2);
  /** The integral of `level` from NOW to NOW + ms, request·ms. */
  const integral = (ms: number): number => Math.floor(ms / 1000) * 2800 + Math.min(ms % 1000, 900) * 2 + Math.max(0, (ms % 1000) - 900) * 10;
  const times: number[] = [];
  for (let s = 0; s < 30; s++) times.push(s * 1000 + 500, s * 1000 + 920, s * 1000 + 950, s * 1000 + 980);

  const stableAfter = (withIntegral: boolean): number => {
    let memory: PolicyMemory = EMPTY_POLICY_MEMORY;
    let stable = 0;
    for (const ms of times) {
      const input = { ...load(3, level(ms), 0, NOW + ms), ...(withIntegral ? { observed: { sum: integral(ms), at: NOW + ms } } : {}) };
      const out = decide(TARGET_1, input, memory);
      memory = out.memory;
      stable = Number(out.decision.inputs['stable']);
    }
    return stable;
  };

  it('with the dispatcher\'s integral, extra decisions inside spikes do not lift the average: it is the time-weighted 2.8', () => {
    expect(stableAfter(true)).toBeCloseTo(2.8, 1);
  });

  it('from point samples alone, the same decisions read the spikes three times out of four (the bias the integral removes)', () => {
    expect(stableAfter(false)).toBeGreaterThan(6);
  });
});

describe('concurrency policy: a panic window shorter than a second', () => {
  // Window 6 s: the panic window is 600 ms. A decision 700 ms into a second used to find no
  // sample inside it (its second began 700 ms ago) and read the panic average as 0.
  const SHORT = spec({ 'com.openfaas.scale.type': 'concurrency', 'com.openfaas.scale.min': '4', 'com.openfaas.scale.max': '20', 'com.openfaas.scale.concurrency': '2', 'com.openfaas.scale.window': '6s' });
  it.each([0, 300, 700, 999])('60 requests seen %i ms into a second panic to max 20', (offset) => {
    const at = Math.floor(NOW / 1000) * 1000 + 5_000 + offset;
    const out = decide(SHORT, load(4, 8, 52, at), EMPTY_POLICY_MEMORY);
    expect(out.decision.inputs['panic']).toBe(60);
    expect(out.decision).toMatchObject({ replicas: 20, reason: 'panic' });
  });
});
