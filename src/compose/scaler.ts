import { AlertScaler } from '../alerts/alert-scaler.js';
import type { AlertSignals } from '../alerts/signals.js';
import type { AlertStateStore } from '../alerts/state-store.js';
import type { FunctionRef } from '../core/ref.js';
import type { InvocationLog } from '../engine/activity.js';
import type { IdleSource } from '../engine/idle.js';
import type { Engine } from '../engine/index.js';
import { attachNamedPolicies, type PolicyReload } from '../engine/policy-reload.js';
import { Scalers } from '../engine/scalers.js';
import type { RemoteSignals } from '../engine/signals.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { AlertTiming } from '../policy/alert-step.js';
import type { NamedPolicyProvider } from '../engine/named-policies.js';
import type { Ownership } from '../providers/setup.js';
import type { ReplicaProvider } from '../providers/types.js';

/** What the scalers are fed: real sources on the gateway, modelled ones in the simulator. */
export interface ScalerInputs {
  /** The provider the engine was built on (the named-policy overlay when there is one). */
  readonly provider: ReplicaProvider;
  /** Named policies: edits re-parse and bound the functions naming them. */
  readonly named?: NamedPolicyProvider;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
  /** Time between two evaluations while a function is active, ms. */
  readonly tickMs: number;
  /** Which functions this gateway decides for; all when absent. */
  readonly ownership?: Pick<Ownership, 'owns' | 'onChange'>;
  /** The other gateways' load (several gateways with Prometheus). */
  readonly remote?: RemoteSignals;
  /** Holds and queue values of firing alerts (also the engine's scale-down guard). */
  readonly signals?: AlertSignals;
  /** Stored asynchronous calls not yet in delivery, per function (src/async): waiting requests. */
  readonly asyncBacklog?: (ref: FunctionRef) => number;
  /** Alert state (the `rps` kind's memory): memory, or the Kubernetes annotation. */
  readonly store: AlertStateStore;
  readonly timing: AlertTiming;
  /** Traffic per function (idle deadlines). */
  readonly activity: InvocationLog;
  /** Idle source at a deadline; this gateway's record when absent. */
  readonly idleSource?: IdleSource;
  /** Asking the idle source again after it said not idle, ms. */
  readonly idleRecheckMs: number;
  /** Called with every piece of async work an event or a due time starts (the simulator follows them). */
  readonly track?: (work: Promise<unknown>) => void;
}

/** The scalers and the webhook logic that feeds them alerts, composed once. */
export interface ComposedScaler {
  readonly scalers: Scalers;
  /** The webhook's logic: a notification's alerts become each function's events. */
  readonly alerts: AlertScaler;
  /** Runs every `scale.zero` function's idle check now (tests, an operator); the deadlines run by themselves. */
  readonly idler: { tick(): Promise<FunctionRef[]> };
  /** Named policies at start, alert scale-downs pending in the store, then every function read once. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Builds one scaler per function on `engine` with its inputs, and the alert handler that
 * feeds them. src/compose/gateway.ts calls it with the gateway's sources; src/sim calls it with
 * modelled ones, so the simulator runs the gateway's code.
 */
export function createScaler(engine: Engine, inputs: ScalerInputs): ComposedScaler {
  const { signals, remote, idleSource, ownership, track } = inputs;
  const scalers = new Scalers({
    engine,
    provider: inputs.provider,
    logger: inputs.logger,
    metrics: inputs.metrics,
    defaultNamespace: inputs.defaultNamespace,
    tickMs: inputs.tickMs,
    activity: inputs.activity,
    idleRecheckMs: inputs.idleRecheckMs,
    ...(ownership === undefined ? {} : { ownership }),
    ...(signals === undefined ? {} : { externalQueue: (ref: FunctionRef) => signals.queueValue(ref) }),
    ...(remote === undefined ? {} : { remote }),
    ...(inputs.asyncBacklog === undefined ? {} : { asyncBacklog: inputs.asyncBacklog }),
    ...(idleSource === undefined ? {} : { idleSource }),
    ...(track === undefined ? {} : { track }),
    // A new decider arms the scale-downs pending in the store for what it now decides (a failed read is tried again).
    adopted: () => alerts.adopt(),
  });
  const alerts: AlertScaler = alertScaler(engine, inputs, scalers);
  let unsubscribe: (() => void) | undefined;
  const reload: PolicyReload | undefined =
    inputs.named === undefined
      ? undefined
      : attachNamedPolicies(inputs.named, engine, {
          logger: inputs.logger,
          defaultNamespace: inputs.defaultNamespace,
          ...(ownership === undefined ? {} : { owns: (ref: FunctionRef) => ownership.owns(ref) }),
          edited: (ref) => scalers.refresh(ref),
        });
  return {
    scalers,
    alerts,
    idler: { tick: () => scalers.idleNow() },
    async start() {
      await reload?.applyAll();
      // A stored state written by another gateway re-arms the pending scale-down here.
      unsubscribe = alerts.follow(inputs.provider);
      await alerts.start();
      await scalers.start();
    },
    async stop() {
      unsubscribe?.();
      alerts.stop();
      reload?.detach();
      await scalers.stop();
    },
  };
}

/** The webhook's logic on the scalers' timer heap; a pending scale-down runs where the function is decided (its bucket's owner). */
function alertScaler(engine: Engine, inputs: ScalerInputs, scalers: Scalers): AlertScaler {
  const { signals, ownership, track } = inputs;
  return new AlertScaler({
    changer: engine.changer,
    clock: engine.clock,
    timers: scalers.timers,
    store: inputs.store,
    logger: inputs.logger.child({ component: 'alerts' }),
    metrics: inputs.metrics,
    timing: inputs.timing,
    defaultNamespace: inputs.defaultNamespace,
    policy: scalers,
    ...(signals === undefined ? {} : { signals }),
    ...(track === undefined ? {} : { track }),
    ...(ownership === undefined ? {} : { owns: (ref: FunctionRef) => ownership.owns(ref) }),
  });
}
