import { AlertSignals } from '../alerts/signals.js';
import { MemoryAlertStateStore, type AlertStateStore } from '../alerts/state-store.js';
import { namedPolicyDefaults, policyDefaults, requestDefaults } from '../config/defaults.js';
import type { Config } from '../config/index.js';
import { systemClock } from '../core/clock.js';
import { InvocationLog } from '../engine/activity.js';
import { createEngine, type Engine } from '../engine/index.js';
import { RemoteSignals, remoteTimeoutMs } from '../engine/signals.js';
import { PrometheusRemoteLoad } from '../engine/signals-prometheus.js';
import { LocalIdleSource, MemberIdleSource, type IdleSource } from '../engine/idle.js';
import { PrometheusIdleSource } from '../gateway/idler.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { NamedPolicyProvider } from '../engine/named-policies.js';
import type { Ownership, ProviderSetup } from '../providers/setup.js';
import { functionLabel, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { createScaler, type ComposedScaler } from './scaler.js';

/** What the gateway's composition takes besides the config and the provider setup. */
export interface GatewayInputs {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The alert state store; the setup's, else one in memory. */
  readonly store?: AlertStateStore;
  /** Which functions this gateway decides for; the setup's, else all. */
  readonly ownership?: Ownership;
  /** The function listener's URL as other gateways reach it, once it listens (published in the member Lease); null: none. */
  readonly address?: () => string | null;
  /** Stored asynchronous calls not yet in delivery, per function (src/async): the scalers' waiting requests. */
  readonly asyncBacklog?: (ref: FunctionRef) => number;
}

/** The engine and the scalers of the gateway, on the system clock. */
export interface GatewayParts {
  /** The provider the engine runs on: the setup's, or the named-policy overlay on it. */
  readonly provider: ReplicaProvider;
  readonly engine: Engine;
  readonly scaler: ComposedScaler;
  /** The gateway's record of calls (the proxy writes it, the idle deadlines read it). */
  readonly invocations: InvocationLog;
  /** Detaches the setup's event sink (Kubernetes Events); undefined without one. */
  readonly detachSink: (() => void) | undefined;
  /** Which functions this gateway decides for; undefined: all of them. */
  readonly ownership: Ownership | undefined;
  /** Where each function's alert state lives (the status page reads firing alerts and holds from it). */
  readonly store: AlertStateStore;
}

/**
 * Composes the gateway's engine (src/engine/index.ts) and its scalers (src/compose/scaler.ts)
 * on the system clock, from the provider setup: named policies overlay the provider's
 * labels, firing alerts' holds guard scale-downs, each function's scaler runs on its owner
 * (the setup's ownership) and its writes are fenced by it, the hard limit is split by the
 * live members (else the config's count/index), and the owner adds the others' load (member
 * Leases, else Prometheus) to its view and its idle checks.
 */
export function composeGateway(config: Config, setup: ProviderSetup, inputs: GatewayInputs): GatewayParts {
  const { logger, metrics } = inputs;
  // Named policies overlay their labels on the provider's answers (src/engine/named-policies.ts).
  const named = setup.policies === undefined ? undefined : new NamedPolicyProvider(setup.provider, setup.policies, { logger, defaults: namedPolicyDefaults(config), defaultNamespace: config.defaultNamespace });
  const provider = named ?? setup.provider;
  const ownership = inputs.ownership ?? setup.ownership;
  // Holds and queue values of firing alerts, kept in the stored alert state: the changer's scale-down guard, the loop's hidden queue.
  const store = inputs.store ?? setup.store ?? new MemoryAlertStateStore();
  const signals = new AlertSignals(systemClock, config.firingStaleSeconds * 1000, store);
  const engine = createEngine({
    provider,
    clock: systemClock,
    metrics,
    logger,
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    eventLogSize: config.eventLogSize,
    drainTimeoutMs: config.drainTimeoutMs,
    shard: setup.members ?? { count: config.gatewayCount ?? 1, index: config.gatewayIndex ?? 0 },
    guard: signals,
    ...(ownership === undefined ? {} : { owns: (ref) => ownership.owns(ref) }),
  });
  // A member joined or left: every function's slots are counted again.
  const shard = setup.members;
  metrics.gatewayMembers.set(shard?.count ?? config.gatewayCount ?? 1);
  shard?.onChange(() => {
    metrics.gatewayMembers.set(shard.count);
    engine.dispatcher.reshard();
  });
  setup.attachGateway?.({ address: inputs.address ?? (() => null), load: (limit) => engine.dispatcher.loads(limit) });
  const detachSink = setup.attachEvents?.(engine.events);
  metrics.gatewayInfo.set({ gateway_index: String(config.gatewayIndex ?? 0) }, 1);
  const remote = remoteSignals(config, setup, engine, logger);
  const invocations = new InvocationLog();
  const localIdle = new LocalIdleSource(invocations);
  const scaler = createScaler(engine, {
    provider,
    ...(named === undefined ? {} : { named }),
    logger,
    metrics,
    defaultNamespace: config.defaultNamespace,
    tickMs: config.policyIntervalMs,
    ...(ownership === undefined ? {} : { ownership }),
    ...(remote === undefined ? {} : { remote }),
    signals,
    store,
    timing: { cooldownMs: config.cooldownSeconds * 1000, firingStaleMs: config.firingStaleSeconds * 1000 },
    activity: invocations,
    idleSource: idleSourceOf(config, localIdle, remote, setup, logger),
    idleRecheckMs: config.idlerIntervalSeconds * 1000,
    ...(inputs.asyncBacklog === undefined ? {} : { asyncBacklog: inputs.asyncBacklog }),
  });
  return { provider, engine, scaler, invocations, detachSink, ownership, store };
}

/**
 * Where idle time comes from: Prometheus when configured (every gateway's calls); else this
 * gateway's record plus the members' published load when the setup has members; else this
 * gateway's record only.
 */
function idleSourceOf(config: Config, local: LocalIdleSource, remote: RemoteSignals | undefined, setup: ProviderSetup, logger: Logger): IdleSource {
  if (config.prometheusUrl !== undefined) return new PrometheusIdleSource(config.prometheusUrl, local, config.defaultNamespace, logger.child({ component: 'idler' }));
  if (remote !== undefined && setup.remoteLoad !== undefined) return new MemberIdleSource(local, remote, (ref) => functionLabel(ref, config.defaultNamespace), () => systemClock.now());
  return local;
}

/**
 * The other gateways' load, added by each function's owner to its own view: from the members'
 * Leases when the setup publishes them, else from Prometheus with a static count above 1
 * (without Prometheus then, a warning); undefined for one gateway.
 */
function remoteSignals(config: Config, setup: ProviderSetup, engine: Engine, logger: Logger): RemoteSignals | undefined {
  const timeoutMs = remoteTimeoutMs(config.policyIntervalMs);
  if (setup.remoteLoad !== undefined) return new RemoteSignals({ source: setup.remoteLoad, clock: engine.clock, logger, timeoutMs });
  const count = config.gatewayCount ?? 1;
  if (count > 1 && config.prometheusUrl !== undefined) {
    return new RemoteSignals({ source: new PrometheusRemoteLoad(config.prometheusUrl, config.gatewayIndex ?? 0), clock: engine.clock, logger, timeoutMs });
  }
  if (count > 1) {
    logger.warn('the policy loop sees only this gateway\'s load', {
      hint: 'with several gateway replicas set ALERT_SCALER_PROMETHEUS_URL so policies decide on the sum over all of them',
    });
  }
  return undefined;
}
