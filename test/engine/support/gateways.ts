import { AlertSignals } from '../../../src/alerts/signals.js';
import { MemoryAlertStateStore } from '../../../src/alerts/state-store.js';
import { createScaler, type ComposedScaler } from '../../../src/compose/scaler.js';
import { VirtualClock } from '../../../src/core/clock.js';
import { InvocationLog } from '../../../src/engine/activity.js';
import type { Engine } from '../../../src/engine/index.js';
import type { EngineEvent } from '../../../src/engine/events.js';
import { MemoryProvider } from '../../../src/providers/memory/index.js';
import { NS } from './engine.js';
import { testEngine } from './policy-loop.js';

/** Modelled replica start time, ms. */
export const START_MS = 500;
export const TICK_MS = 1000;
/** A firing alert not seen again for this long no longer counts, ms. */
export const STALE_MS = 60_000;

/** One gateway: its own engine, scalers, webhook logic and record of calls, on the shared provider, store and clock. */
export interface TestGateway {
  readonly name: string;
  readonly engine: Engine;
  readonly composed: ComposedScaler;
  readonly signals: AlertSignals;
  readonly activity: InvocationLog;
  /** Its event log, newest last. */
  events(): readonly EngineEvent[];
}

/**
 * Two gateways (`a`, `b`) as two processes over one cluster: one MemoryProvider with one
 * function `fn`, one MemoryAlertStateStore (the stored alert state), one virtual clock; each
 * composed as the gateway composes itself (src/compose/scaler.ts). `owner` says which one
 * decides (each one's ownership); `moveTo` flips it and tells both, `kill`
 * stops one (its timers and subscriptions go, as with a dead process).
 */
export async function twoGateways(labels: Record<string, string>, replicas: number) {
  const clock = new VirtualClock(1_000_000);
  const ref = { name: 'fn', namespace: NS };
  const provider = new MemoryProvider({ clock, defaultModel: { startMs: START_MS, stopMs: 10 }, functions: [{ ...ref, replicas, labels }] });
  const store = new MemoryAlertStateStore();
  const state = { owner: 'a' };
  /** Each gateway's ownership: one function, decided by `state.owner`; a move tells both (as a bucket change does). */
  const listeners = new Set<() => void>();
  const ownership = (name: string) => ({
    self: name,
    owns: () => state.owner === name,
    ownerOf: () => state.owner,
    onChange(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  });
  const make = (name: string): TestGateway => {
    const signals = new AlertSignals(clock, STALE_MS, store);
    // As the gateway composes it (src/compose/gateway.ts): the engine fences the owner's writes.
    const { metrics, logger, engine } = testEngine(provider, clock, { guard: signals, owns: ownership(name).owns });
    const activity = new InvocationLog(() => clock.now());
    const composed = createScaler(engine, {
      provider,
      logger,
      metrics,
      defaultNamespace: NS,
      tickMs: TICK_MS,
      ownership: ownership(name),
      signals,
      store,
      timing: { cooldownMs: 10_000, firingStaleMs: STALE_MS },
      activity,
      idleRecheckMs: 5_000,
    });
    return { name, engine, composed, signals, activity, events: () => engine.events.query() };
  };
  await provider.start();
  const a = make('a');
  const b = make('b');
  await a.engine.dispatcher.track(ref);
  await b.engine.dispatcher.track(ref);
  await a.composed.start();
  await b.composed.start();
  await clock.run(START_MS);
  return {
    clock,
    ref,
    provider,
    store,
    a,
    b,
    /** The desired count the provider (the cluster) holds. */
    desired: async () => (await provider.getReplicas(ref)).desired,
    /** From now on `name` decides: both gateways are told (as of a bucket moving). */
    moveTo(name: string): void {
      state.owner = name;
      for (const listener of listeners) listener();
    },
    /** Stops a gateway as a dead process would: nothing of it runs any more. */
    kill: (gateway: TestGateway) => gateway.composed.stop(),
  };
}
