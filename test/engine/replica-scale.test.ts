/**
 * The engine's cost grows with the replicas that change, not with all replicas: one function
 * scaled 0 → 10,000 → 0 on the memory provider and the virtual clock, every replica starting
 * and stopping at its own instant (one provider notification each). What is counted is every
 * replica row the engine reads: rows returned by the provider's `listReplicas` and rows
 * copied out of the dispatcher's table. Relisting on each notification reads about
 * N²/2 = 5·10⁷ rows per direction; the bound is 20·N.
 */
import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';
import type { FunctionRef, ReplicaInfo } from '../../src/providers/types.js';
import { DelegatingProvider } from '../support/delegating-provider.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { LIMITS, NS } from './support/engine.js';

const N = 10_000;
const BOUND = 20 * N;
const STOP_MS = 10;

/** Passes everything to the memory provider and counts the replica rows `listReplicas` returns. */
class CountingProvider extends DelegatingProvider<MemoryProvider> {
  rows = 0;
  constructor(
    inner: MemoryProvider,
    private readonly budget: number,
  ) {
    super(inner);
  }
  override listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    const listed = this.inner.listReplicas(ref);
    this.charge(listed.length);
    return listed;
  }
  /** Counts rows; far past the bound it stops the run (a quadratic engine would take minutes). */
  charge(rows: number): void {
    this.rows += rows;
    if (this.rows > this.budget) throw new Error(`read ${this.rows} replica rows, over the budget of ${this.budget}`);
  }
}

async function setup(): Promise<{ clock: VirtualClock; provider: CountingProvider; engine: Engine; ref: FunctionRef }> {
  const clock = new VirtualClock(1_000_000);
  const ref = { name: 'fn', namespace: NS };
  // Replica k is ready k ms after it is created: N readiness notifications, one at a time.
  let started = 0;
  const model = { startMs: 0, stopMs: STOP_MS, nextStartMs: () => ++started };
  const memory = new MemoryProvider({ clock, functions: [{ ...ref, replicas: 0, labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': String(N) }, model }] });
  const provider = new CountingProvider(memory, 10 * BOUND);
  const engine = createEngine({
    provider,
    clock,
    metrics: createMetrics(),
    logger: silentLogger(),
    defaultNamespace: NS,
    policyDefaults: DEFAULT_POLICY,
    requestDefaults: LIMITS,
    eventLogSize: 100,
    drainTimeoutMs: 30_000,
    shard: { count: 1, index: 0 },
  });
  // Rows copied out of the dispatcher's table (the change cycle's read, the drainer) count too.
  const copy = engine.dispatcher.replicas.bind(engine.dispatcher);
  engine.dispatcher.replicas = (r: FunctionRef) => {
    const rows = copy(r);
    provider.charge(rows.length);
    return rows;
  };
  await provider.start();
  await engine.dispatcher.track(ref);
  return { clock, provider, engine, ref };
}

describe('a change costs O(changed replicas)', () => {
  it(`scaling one function 0 -> ${N} -> 0 reads at most ${BOUND} replica rows, with every replica started, served and stopped`, async () => {
    const { clock, provider, engine, ref } = await setup();
    const { dispatcher, changer } = engine;
    // Every replica's lifecycle is still recorded, one event each.
    const actions = new Map<string, number>();
    engine.events.addSink((event) => actions.set(event.action, (actions.get(event.action) ?? 0) + 1));
    // A call waiting for the first replica: each readiness serves the queue.
    const waiting = dispatcher.acquire(ref);

    const up = await changer.change(ref, 'api', () => ({ replicas: N, reason: 'test' }));
    expect(up).toMatchObject({ from: 0, to: N, changed: true });
    await clock.run(N);
    expect(dispatcher.replicaCounts(ref)).toMatchObject({ starting: 0, free: N - 1, busy: 1, serving: N });
    expect(actions.get('scale_up_start')).toBe(N);
    expect(actions.get('scale_up_complete')).toBe(N);
    const first = await waiting;
    first.release();
    // Calls spread least in-flight first over the whole table.
    const slots = Array.from({ length: 100 }, () => dispatcher.tryAcquire(ref));
    expect(new Set(slots.map((s) => s?.replicaId)).size).toBe(100);
    for (const slot of slots) slot?.release();
    const upRows = provider.rows;
    expect(upRows).toBeLessThanOrEqual(BOUND);

    const down = await changer.change(ref, 'api', () => ({ replicas: 0, reason: 'test' }));
    expect(down).toMatchObject({ from: N, to: 0, changed: true });
    await down.settled;
    await clock.run(STOP_MS);
    expect(actions.get('drain_start')).toBe(N);
    expect(actions.get('scale_down_complete')).toBe(N);
    expect(provider.listReplicas(ref)).toEqual([]);
    expect(dispatcher.replicaCounts(ref)).toEqual({ starting: 0, free: 0, busy: 0, draining: 0, stopping: 0, serving: 0 });
    expect(await provider.getReplicas(ref)).toMatchObject({ desired: 0, ready: 0 });
    expect(provider.rows).toBeLessThanOrEqual(BOUND);
    engine.close();
  }, 60_000);
});
