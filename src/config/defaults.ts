import type { NamedPolicyDefaults } from '../policy/named.js';
import type { PolicyDefaults, RequestLimits } from '../policy/labels.js';
import type { SpecDefaults } from '../policy/spec.js';
import type { Config } from './schema.js';

/** Policy defaults from the config. */
export function policyDefaults(config: Config): PolicyDefaults {
  return {
    minReplicas: config.defaultMinReplicas,
    maxReplicas: config.defaultMaxReplicas,
    factorPercent: config.defaultFactorPercent,
    scaleDownWindowMs: config.scaleDownWindowSeconds * 1000,
    scaleToZero: false,
    zeroDurationMs: config.zeroDurationSeconds * 1000,
    wakeTimeoutMs: config.wakeTimeoutMs,
    dryRun: config.dryRun,
    maxReplicasCeiling: config.maxReplicasCeiling,
  };
}

/**
 * Min, max and the ceiling `com.openfaas.scale.max=0` stands for, from the config: what the
 * API reports as a function's policy when its labels leave them out.
 */
export function specDefaults(config: Config): SpecDefaults {
  return { minReplicas: config.defaultMinReplicas, maxReplicas: config.defaultMaxReplicas, maxReplicasCeiling: config.maxReplicasCeiling };
}

/** Request limits of a function without labels, from the config. */
export function requestDefaults(config: Config): RequestLimits {
  return { concurrency: 0, maxQueued: config.maxQueued, requestTimeoutMs: config.requestTimeoutMs, maxWaitMs: config.wakeTimeoutMs, websocketIdleTimeoutMs: config.websocketIdleTimeoutMs };
}

/** What the parsers fall back to when checking a named policy, from the config. */
export function namedPolicyDefaults(config: Config): NamedPolicyDefaults {
  return {
    policy: policyDefaults(config),
    spec: specDefaults(config),
    request: requestDefaults(config),
  };
}
