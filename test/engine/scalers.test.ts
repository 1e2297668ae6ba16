import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { AppError } from '../../src/errors.js';
import { refKey, type FunctionRef } from '../../src/core/ref.js';
import { InvocationLog } from '../../src/engine/activity.js';
import { createEngine } from '../../src/engine/index.js';
import { PolicyCache } from '../../src/engine/policies.js';
import { Scalers, SWEEP_BATCH } from '../../src/engine/scalers.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';
import type { FunctionInfo, ReplicaState } from '../../src/providers/types.js';
import { DelegatingProvider } from '../support/delegating-provider.js';
import { DEFAULT_POLICY } from '../support/policy.js';

const NS = 'openfaas-fn';
const L = 'com.openfaas.scale.';
const HOUR_MS = 3_600_000;

/** Counts every provider read, per function for getReplicas. */
class CountingProvider extends DelegatingProvider<MemoryProvider> {
  lists = 0;
  /** Functions deleted behind the gateway's back: every read of them is FUNCTION_UNKNOWN. */
  readonly deleted = new Set<string>();
  readonly gets = new Map<string, number>();
  override listFunctions(): Promise<FunctionInfo[]> {
    this.lists += 1;
    return super.listFunctions();
  }
  override getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    this.gets.set(refKey(ref), (this.gets.get(refKey(ref)) ?? 0) + 1);
    if (this.deleted.has(ref.name)) return Promise.reject(new AppError('FUNCTION_UNKNOWN', `function ${ref.name} not found`));
    return super.getReplicas(ref);
  }
  reads(): number {
    return this.lists + [...this.gets.values()].reduce((a, b) => a + b, 0);
  }
}

/** Labels of the i-th function: every kind, a few at zero with scale-to-zero. */
function labelsOf(i: number): { labels: Record<string, string>; replicas: number } {
  switch (i % 5) {
    case 0:
      return { labels: { [`${L}type`]: 'queue', [`${L}concurrency`]: '1', [`${L}max`]: '5' }, replicas: 1 };
    case 1:
      return { labels: { [`${L}type`]: 'free-workers', [`${L}concurrency`]: '1', [`${L}max`]: '5' }, replicas: 1 };
    case 2:
      return { labels: { [`${L}type`]: 'concurrency', [`${L}target`]: '2', [`${L}max`]: '5' }, replicas: 1 };
    case 3:
      return { labels: { [`${L}max`]: '5' }, replicas: 1 };
    default:
      return { labels: { [`${L}zero`]: 'true', [`${L}min`]: '0', [`${L}zero-duration`]: '1m' }, replicas: 0 };
  }
}

async function world(count: number) {
  const clock = new VirtualClock(1_000_000);
  const inner = new MemoryProvider({
    clock,
    defaultModel: { startMs: 200, stopMs: 10 },
    functions: Array.from({ length: count }, (_, i) => ({ name: `fn${i}`, namespace: NS, ...labelsOf(i) })),
  });
  const provider = new CountingProvider(inner);
  const metrics = createMetrics();
  const engine = createEngine({
    provider,
    clock,
    metrics,
    logger: silentLogger(),
    defaultNamespace: NS,
    policyDefaults: { ...DEFAULT_POLICY, minReplicas: 1, maxReplicas: 20 },
    requestDefaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 60_000, maxWaitMs: 60_000 },
    eventLogSize: 1000,
    drainTimeoutMs: 30_000,
    shard: { count: 1, index: 0 },
  });
  // Which functions the policies looked at: every evaluation reads the dispatcher's table once.
  const looked = new Map<string, number>();
  const stats = engine.dispatcher.stats.bind(engine.dispatcher);
  engine.dispatcher.stats = (ref) => {
    looked.set(ref.name, (looked.get(ref.name) ?? 0) + 1);
    return stats(ref);
  };
  const activity = new InvocationLog(() => clock.now());
  const scalers = new Scalers({ engine, provider, logger: silentLogger(), metrics, defaultNamespace: NS, tickMs: 1000, activity, idleRecheckMs: 30_000 });
  await provider.start();
  for (let i = 0; i < count; i++) await engine.dispatcher.track({ name: `fn${i}`, namespace: NS });
  await scalers.start();
  await clock.run(1000);
  return { clock, provider, engine, scalers, looked, activity };
}

describe('one scaler per function, fed by events', () => {
  it('10,000 idle functions for an hour of virtual time: no evaluation, no provider read, nothing due; then a request evaluates that one function only', async () => {
    const w = await world(10_000);
    expect(w.scalers.stats().functions).toBe(10_000);
    const evaluationsAtStart = w.scalers.stats().evaluations;
    // Start-up looked at each non-rps function (a top-up to min happens then) once, and once
    // more when its starting replica became ready; rps functions never.
    expect(evaluationsAtStart).toBeGreaterThanOrEqual(6_000);
    expect(evaluationsAtStart).toBeLessThanOrEqual(12_000);
    const readsAtStart = w.provider.reads();
    w.looked.clear();

    await w.clock.run(HOUR_MS);

    expect(w.scalers.stats().evaluations).toBe(evaluationsAtStart);
    expect(w.provider.reads()).toBe(readsAtStart);
    expect(w.looked.size).toBe(0);
    expect(w.scalers.stats().timers).toBe(0);
    expect(w.clock.pending()).toBe(0);

    // One request to one queue function: it becomes active, is looked at while the request
    // runs, and goes quiet again after it; no other function is looked at.
    const ref = { name: 'fn10', namespace: NS };
    const slot = w.engine.dispatcher.tryAcquire(ref);
    expect(slot).not.toBeNull();
    await w.clock.run(5_000);
    slot?.release();
    await w.clock.run(60_000);
    expect([...w.looked.keys()]).toEqual(['fn10']);
    expect(w.looked.get('fn10')).toBeGreaterThanOrEqual(1);
    expect(w.scalers.stats().evaluations - evaluationsAtStart).toBe(w.looked.get('fn10'));
    expect(w.scalers.stats().timers).toBe(0);
  }, 60_000);

  it('a concurrency function keeps being looked at while its windows run, scales back to min, then goes quiet', async () => {
    const w = await world(5);
    const ref = { name: 'fn2', namespace: NS };
    const slots = Array.from({ length: 8 }, () => w.engine.dispatcher.tryAcquire(ref));
    await w.clock.run(10_000);
    expect((await w.provider.inner.getReplicas(ref)).desired).toBe(4);
    for (const slot of slots) slot?.release();
    w.looked.clear();
    await w.clock.run(10 * 60_000);
    expect((await w.provider.inner.getReplicas(ref)).desired).toBe(1);
    const looks = w.looked.get('fn2') ?? 0;
    // Looked at once a tick until the stable window and the scale-down delay ran out, then never.
    expect(looks).toBeGreaterThan(30);
    await w.clock.run(HOUR_MS);
    expect(w.looked.get('fn2')).toBe(looks);
    expect(w.scalers.stats().timers).toBe(0);
  });

  it('a scale-to-zero function goes to zero at its idle deadline, and its wake arms the next one', async () => {
    const w = await world(5);
    const ref = { name: 'fn4', namespace: NS };
    // A call at zero, as the proxy makes it: recorded, held while the function wakes.
    const end = w.activity.begin(ref);
    const waiting = w.engine.dispatcher.acquire(ref, { maxWaitMs: 10_000 });
    await w.clock.run(500);
    const slot = await waiting;
    await w.clock.run(1000);
    slot.release();
    end();
    const endedAt = w.clock.now();
    expect((await w.provider.inner.getReplicas(ref)).desired).toBe(1);
    await w.clock.run(59_000);
    expect((await w.provider.inner.getReplicas(ref)).desired).toBe(1);
    await w.clock.run(2_000);
    expect((await w.provider.inner.getReplicas(ref)).desired).toBe(0);
    const idled = w.engine.events.query({ function: 'fn4' }).find((e) => e.source === 'idler' && e.action === 'scale_down');
    expect(idled?.time).toBe(endedAt + 60_000);
    expect(w.scalers.stats().timers).toBe(0);
  });
});

describe('a sweep over many functions (start-up, a new leader)', () => {
  it('gives the event loop a turn between batches instead of reading and evaluating them all in one', async () => {
    const w = await world(4 * SWEEP_BATCH);
    const before = w.scalers.stats().evaluations;
    let atFirstTurn: number | undefined;
    setImmediate(() => (atFirstTurn = w.scalers.stats().evaluations - before));
    await w.scalers.tick();
    const all = w.scalers.stats().evaluations - before;
    // 60 % of the functions are evaluated (the rps ones never are): 1,200 in all, 300 per batch.
    expect(all).toBe(1_200);
    expect(atFirstTurn).toBe(300);
  });
});

describe('names that are not functions', () => {
  it('an evaluation or a kind asked for an unknown function fails clearly and leaves no scaler behind', async () => {
    const w = await world(5);
    const before = w.scalers.stats();
    const nope = { name: 'no-such-function', namespace: NS };
    expect(await w.scalers.evaluateNow(nope)).toBeNull();
    await expect(w.scalers.kindOf(nope)).rejects.toMatchObject({ code: 'FUNCTION_UNKNOWN' });
    for (let i = 0; i < 100; i++) await w.scalers.kindOf({ name: `nope-${i}`, namespace: NS }).catch(() => undefined);
    expect(w.scalers.stats()).toEqual(before);
  });
});

describe('a function deleted behind the gateway', () => {
  it('its scaler goes at the first read that says so; nothing is retried for it', async () => {
    const w = await world(5);
    const ref = { name: 'fn0', namespace: NS };
    const held = w.engine.dispatcher.tryAcquire(ref);
    w.provider.deleted.add('fn0');
    // Three waiting on a busy single-slot replica: the queue policy asks for one more, and the change cycle's read meets the deletion.
    const waiting = Promise.all([1, 2, 3].map(() => w.engine.dispatcher.acquire(ref, { maxWaitMs: 5_000 }).catch(() => undefined)));
    await w.clock.run(100);
    expect(w.scalers.stats().functions).toBe(4);
    const reads = w.provider.gets.get(refKey(ref)) ?? 0;
    const looks = w.looked.get('fn0') ?? 0;
    await w.clock.run(60_000);
    expect(w.provider.gets.get(refKey(ref)) ?? 0).toBe(reads);
    expect(w.looked.get('fn0') ?? 0).toBe(looks);
    held?.release();
    await waiting;
  });
});

describe('PolicyCache', () => {
  it('parses a function\'s labels once: the same objects or an equal copy are a hit, a change parses again', () => {
    const cache = new PolicyCache({ ...DEFAULT_POLICY });
    const labels = { [`${L}type`]: 'queue', [`${L}max`]: '4' };
    const first = cache.of('ns/f', labels, {});
    expect(cache.of('ns/f', labels, {})).toBe(first);
    expect(cache.of('ns/f', { ...labels }, {})).toBe(first);
    const changed = cache.of('ns/f', { ...labels, [`${L}max`]: '6' }, {});
    expect(changed).not.toBe(first);
    expect(changed.spec.ok && changed.spec.spec.maxReplicas).toBe(6);
  });

  it('functions with the same settings share one parse (labels the parsers do not read, as faas_function, differ); other settings do not', () => {
    const cache = new PolicyCache({ ...DEFAULT_POLICY });
    const settings = { [`${L}type`]: 'queue', [`${L}max`]: '4' };
    const a = cache.of('ns/a', { ...settings, faas_function: 'a' }, { 'prometheus.io/scrape': 'true' });
    const b = cache.of('ns/b', { ...settings, faas_function: 'b' }, {});
    expect(b).toBe(a);
    const c = cache.of('ns/c', { ...settings, faas_function: 'c', 'scale.min': '2' }, {});
    expect(c).not.toBe(a);
    expect(c.spec.ok && c.spec.spec.minReplicas).toBe(2);
    expect(cache.of('ns/d', { faas_function: 'd' }, { [`${L}max`]: '4', [`${L}type`]: 'queue' })).not.toBe(a);
  });
});
