import { AlertSignals } from '../alerts/signals.js';
import { MemoryAlertStateStore } from '../alerts/state-store.js';
import { createScaler, type ComposedScaler } from '../compose/scaler.js';
import { policyDefaults, requestDefaults } from '../config/defaults.js';
import type { Config } from '../config/schema.js';
import { VirtualClock } from '../core/clock.js';
import { InvocationLog } from '../engine/activity.js';
import type { FunctionRef } from '../core/ref.js';
import { createEngine, type Engine } from '../engine/index.js';
import { silentLogger } from '../log/logger.js';
import { createMetrics } from '../metrics/registry.js';
import { parseScalingPolicy } from '../policy/labels.js';
import { MemoryProvider } from '../providers/memory/index.js';
import { sample } from './distribution.js';
import { Pending } from './pending.js';
import { Random } from './random.js';
import type { SimStack } from './stack.js';

/** The simulated gateway: the gateway's own engine and scalers on a virtual clock and a modelled provider. */
export interface SimGateway {
  readonly clock: VirtualClock;
  /** The run's root of random streams (each function's start and service times fork it). */
  readonly root: Random;
  readonly provider: MemoryProvider;
  readonly engine: Engine;
  readonly scaler: ComposedScaler;
  /** The gateway's record of calls (the idle deadlines read it). */
  readonly invocations: InvocationLog;
  /** The async work the run waits for before moving the clock. */
  readonly pending: Pending;
}

/** The stack's functions on a MemoryProvider on `clock`, each at its min, starts sampled from its model. */
function stackProvider(stack: SimStack, clock: VirtualClock, root: Random, config: Config): MemoryProvider {
  const defaults = policyDefaults(config);
  return new MemoryProvider({
    clock,
    functions: stack.functions.map((fn, i) => {
      const startRandom = root.fork(20_000 + i);
      const policy = parseScalingPolicy(fn.labels, fn.annotations, defaults);
      return {
        name: fn.name,
        namespace: fn.namespace,
        labels: fn.labels,
        annotations: fn.annotations,
        replicas: policy.ok ? policy.policy.minReplicas : 0,
        model: { startMs: 0, stopMs: fn.stopMs, nextStartMs: () => sample(fn.start, startRandom) },
      };
    }),
  });
}

/**
 * Composes the engine and the scalers (src/compose/scaler.ts) as src/compose/gateway.ts does, on a
 * VirtualClock at 0 and a MemoryProvider built from `stack`, with silent logs, one gateway
 * and no Prometheus; every piece of async work they start is tracked by `pending`. The
 * `queue` and `concurrency` kinds read `asyncBacklog` (the stored async calls) as waiting requests.
 */
export function composeSimGateway(stack: SimStack, config: Config, seed: number, asyncBacklog?: (ref: FunctionRef) => number): SimGateway {
  const root = new Random(seed);
  const clock = new VirtualClock(0);
  const provider = stackProvider(stack, clock, root, config);
  const metrics = createMetrics();
  const store = new MemoryAlertStateStore();
  const signals = new AlertSignals(clock, config.firingStaleSeconds * 1000, store);
  const engine = createEngine({
    provider,
    clock,
    metrics,
    logger: silentLogger(),
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    eventLogSize: 1,
    drainTimeoutMs: config.drainTimeoutMs,
    shard: { count: 1, index: 0 },
    guard: signals,
  });
  const pending = new Pending();
  const { track } = pending;
  const invocations = new InvocationLog(() => clock.now(), 0);
  const scaler = createScaler(engine, {
    provider,
    logger: silentLogger(),
    metrics,
    defaultNamespace: config.defaultNamespace,
    tickMs: stack.policyTickMs,
    signals,
    store,
    timing: { cooldownMs: config.cooldownSeconds * 1000, firingStaleMs: config.firingStaleSeconds * 1000 },
    activity: invocations,
    idleRecheckMs: config.idlerIntervalSeconds * 1000,
    track,
    ...(asyncBacklog === undefined ? {} : { asyncBacklog }),
  });
  engine.changer.onSettling((_ref, settled) => track(settled));
  return { clock, root, provider, engine, scaler, invocations, pending };
}
