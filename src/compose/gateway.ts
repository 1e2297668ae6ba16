import { AlertSignals } from '../alerts/signals.js';
import { MemoryAlertStateStore, type AlertStateStore } from '../alerts/state-store.js';
import { namedPolicyDefaults, policyDefaults, requestDefaults } from '../config/defaults.js';
import type { Config } from '../config/index.js';
import { systemClock } from '../core/clock.js';
import { InvocationLog } from '../engine/activity.js';
import { createEngine, type Engine } from '../engine/index.js';
import { RemoteSignals, remoteTimeoutMs } from '../engine/signals.js';
import { PrometheusRemoteLoad } from '../engine/signals-prometheus.js';
import { LocalIdleSource } from '../engine/idle.js';
import { PrometheusIdleSource } from '../gateway/idler.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { NamedPolicyProvider } from '../engine/named-policies.js';
import type { ProviderSetup } from '../providers/setup.js';
import type { ReplicaProvider } from '../providers/types.js';
import { createScaler, type ComposedScaler } from './scaler.js';

/** What the gateway's composition takes besides the config and the provider setup. */
export interface GatewayInputs {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The alert state store; the setup's, else one in memory. */
  readonly store?: AlertStateStore;
  /** Leader check for the scalers; the setup's, else always leader. */
  readonly isLeader?: () => boolean;
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
}

/**
 * Composes the gateway's engine (src/engine/index.ts) and its scalers (src/compose/scaler.ts)
 * on the system clock, from the provider setup: named policies overlay the provider's
 * labels, firing alerts' holds guard scale-downs, the idle source is Prometheus when
 * configured, and with several gateways the leader adds the others' load. Warns once for
 * each setting a several-gateway setup lacks.
 */
export function composeGateway(config: Config, setup: ProviderSetup, inputs: GatewayInputs): GatewayParts {
  const { logger, metrics } = inputs;
  // Named policies overlay their labels on the provider's answers (src/engine/named-policies.ts).
  const named = setup.policies === undefined ? undefined : new NamedPolicyProvider(setup.provider, setup.policies, { logger, defaults: namedPolicyDefaults(config), defaultNamespace: config.defaultNamespace });
  const provider = named ?? setup.provider;
  if (setup.isLeader !== undefined && config.prometheusUrl === undefined) {
    logger.warn('the idler sees only this replica\'s traffic', {
      hint: 'with several gateway replicas set ALERT_SCALER_PROMETHEUS_URL so idle time counts every replica',
    });
  }
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
    shard: { count: config.gatewayCount, index: config.gatewayIndex },
    guard: signals,
  });
  const detachSink = setup.attachEvents?.(engine.events);
  const isLeader = inputs.isLeader ?? setup.isLeader ?? (() => true);
  metrics.gatewayInfo.set({ gateway_index: String(config.gatewayIndex) }, 1);
  const remote = remoteSignals(config, engine, logger);
  const invocations = new InvocationLog();
  const localIdle = new LocalIdleSource(invocations);
  const scaler = createScaler(engine, {
    provider,
    ...(named === undefined ? {} : { named }),
    logger,
    metrics,
    defaultNamespace: config.defaultNamespace,
    tickMs: config.policyIntervalMs,
    isLeader,
    ...(remote === undefined ? {} : { remote }),
    signals,
    store,
    timing: { cooldownMs: config.cooldownSeconds * 1000, firingStaleMs: config.firingStaleSeconds * 1000 },
    activity: invocations,
    idleSource: config.prometheusUrl === undefined ? localIdle : new PrometheusIdleSource(config.prometheusUrl, localIdle, config.defaultNamespace, logger.child({ component: 'idler' })),
    idleRecheckMs: config.idlerIntervalSeconds * 1000,
  });
  return { provider, engine, scaler, invocations, detachSink };
}

/** Several gateways: the leader adds the others' load (from Prometheus) to its own view; undefined for one gateway or without Prometheus (then a warning). */
function remoteSignals(config: Config, engine: Engine, logger: Logger): RemoteSignals | undefined {
  const remote =
    config.gatewayCount > 1 && config.prometheusUrl !== undefined
      ? new RemoteSignals({ source: new PrometheusRemoteLoad(config.prometheusUrl, config.gatewayIndex), clock: engine.clock, logger, timeoutMs: remoteTimeoutMs(config.policyIntervalMs) })
      : undefined;
  if (config.gatewayCount > 1 && config.prometheusUrl === undefined) {
    logger.warn('the policy loop sees only this gateway\'s load', {
      hint: 'with several gateway replicas set ALERT_SCALER_PROMETHEUS_URL so policies decide on the sum over all of them',
    });
  }
  return remote;
}
