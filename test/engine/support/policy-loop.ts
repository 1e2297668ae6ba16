import { VirtualClock } from '../../../src/core/clock.js';
import type { ScaleDownGuard } from '../../../src/engine/changer.js';
import { createEngine } from '../../../src/engine/index.js';
import { InvocationLog } from '../../../src/engine/activity.js';
import { Scalers } from '../../../src/engine/scalers.js';
import { RemoteSignals, type RemoteLoadSource } from '../../../src/engine/signals.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { MemoryProvider } from '../../../src/providers/memory/index.js';
import type { FunctionRef } from '../../../src/providers/types.js';
import { DEFAULT_POLICY } from '../../support/policy.js';
import { LIMITS, NS } from './engine.js';

/** Modelled replica start time in the walk-throughs, ms. */
export const START_MS = 500;
export const TICK_MS = 1000;

/**
 * A whole engine on a virtual clock for one function `fn` (memory provider, dispatcher,
 * drainer, changer, the per-function scalers), with the highest desired count and the most
 * requests one replica ever held recorded as they happen.
 */
export interface PolicyEngineOptions {
  readonly leader?: () => boolean;
  /** Which functions this gateway owns, and its changes (overrides `leader`). */
  readonly ownership?: { owns(ref: FunctionRef): boolean; onChange(listener: () => void): () => void };
  /** The changer's scale-down guard (alert holds). */
  readonly guard?: ScaleDownGuard;
  /** The config's dry run. */
  readonly dryRun?: boolean;
  /** A queue the gateway cannot see (alert values). */
  readonly externalQueue?: (ref: FunctionRef) => number | null | Promise<number | null>;
  /** The other gateways' load (read at each tick, timeout half a tick). */
  readonly remote?: RemoteLoadSource;
}

/** A test gateway's engine on `provider` and the virtual clock (createEngine with the test defaults, its own metrics and a silent logger); `options` adds a scale-down guard, dry run or the fence of an owner's writes. */
export function testEngine(provider: MemoryProvider, clock: VirtualClock, options: { readonly guard?: ScaleDownGuard; readonly dryRun?: boolean; readonly owns?: (ref: FunctionRef) => boolean } = {}) {
  const metrics = createMetrics();
  const logger = silentLogger();
  const engine = createEngine({
    provider,
    clock,
    metrics,
    logger,
    defaultNamespace: NS,
    policyDefaults: { ...DEFAULT_POLICY, dryRun: options.dryRun ?? false },
    requestDefaults: { ...LIMITS, maxQueued: 1000 },
    eventLogSize: 10_000,
    drainTimeoutMs: 30_000,
    shard: { count: 1, index: 0 },
    ...(options.guard === undefined ? {} : { guard: options.guard }),
    ...(options.owns === undefined ? {} : { owns: options.owns }),
  });
  return { metrics, logger, engine };
}

export async function policyEngine(labels: Record<string, string>, replicas: number, opts: PolicyEngineOptions = {}) {
  const clock = new VirtualClock(1_000_000);
  const ref = { name: 'fn', namespace: NS };
  const provider = new MemoryProvider({ clock, defaultModel: { startMs: START_MS, stopMs: 10 }, functions: [{ ...ref, replicas, labels }] });
  const { metrics, logger, engine } = testEngine(provider, clock, opts);
  const remote = opts.remote === undefined ? undefined : new RemoteSignals({ source: opts.remote, clock, logger, timeoutMs: TICK_MS / 2 });
  const { dispatcher, events, changer } = engine;
  const scalers = new Scalers({
    engine,
    provider,
    logger,
    metrics,
    defaultNamespace: NS,
    tickMs: TICK_MS,
    activity: new InvocationLog(() => clock.now()),
    idleRecheckMs: 30_000,
    ...(opts.ownership !== undefined ? { ownership: opts.ownership } : opts.leader === undefined ? {} : { ownership: { owns: () => (opts.leader as () => boolean)(), onChange: () => () => undefined } }),
    ...(opts.externalQueue === undefined ? {} : { externalQueue: opts.externalQueue }),
    ...(remote === undefined ? {} : { remote }),
  });
  const seen = { maxDesired: 0, maxPerReplica: 0 };
  provider.subscribe((_ref, state) => {
    seen.maxDesired = Math.max(seen.maxDesired, state.desired);
  });
  await provider.start();
  await dispatcher.track(ref);
  await clock.run(START_MS);
  seen.maxDesired = (await provider.getReplicas(ref)).desired;
  const held = new Map<string, number>();

  /**
   * One client request: a slot at once, or (after asking the loop to look at once, as the
   * proxy does when a request queues) a wait in the queue; holds it `serviceMs` of virtual time.
   */
  async function call(serviceMs: number, hook = true): Promise<void> {
    let slot = dispatcher.tryAcquire(ref);
    if (slot === null) {
      const waiting = dispatcher.acquire(ref, { maxWaitMs: 3_600_000 });
      if (hook) void scalers.evaluateNow(ref);
      slot = await waiting;
    }
    const now = (held.get(slot.replicaId) ?? 0) + 1;
    held.set(slot.replicaId, now);
    seen.maxPerReplica = Math.max(seen.maxPerReplica, now);
    await new Promise<void>((resolve) => clock.setTimeout(resolve, serviceMs));
    held.set(slot.replicaId, (held.get(slot.replicaId) ?? 1) - 1);
    slot.release();
  }

  /** `n` clients calling back to back until `durationMs` from now. */
  function clients(n: number, serviceMs: number, durationMs: number, hook = true): Promise<number> {
    const until = clock.now() + durationMs;
    let served = 0;
    const one = async () => {
      while (clock.now() < until) {
        await call(serviceMs, hook);
        served += 1;
      }
    };
    return Promise.all(Array.from({ length: n }, one)).then(() => served);
  }

  const desired = async () => (await provider.getReplicas(ref)).desired;
  const live = () => provider.listReplicas(ref).filter((r) => r.phase !== 'stopping').length;
  return { clock, ref, provider, dispatcher, events, changer, scalers, metrics, seen, call, clients, desired, live, remote };
}
