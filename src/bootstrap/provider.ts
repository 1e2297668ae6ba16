import { join } from 'node:path';
import { policyDefaults } from '../config/defaults.js';
import type { Config, ReadFile } from '../config/index.js';
import { isFileTooLarge, readBounded } from '../config/files.js';
import { packageRoot } from '../config/package-root.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseScalingPolicy } from '../policy/labels.js';
import { policyNameOf } from '../policy/named.js';
import { LocalProvider } from '../providers/local/index.js';
import { StackPolicySource } from '../providers/local/policies.js';
import { parseStack } from '../providers/local/stack.js';
import type { ProviderSetup } from '../providers/setup.js';
import { functionLabel, type ReplicaProvider } from '../providers/types.js';

/** The stack file of the local provider (the example stack when none is configured). */
function stackPathOf(config: Config): string {
  return config.stackPath === '' ? join(packageRoot(), 'examples', 'stack.yml') : config.stackPath;
}

/** Builds the local provider from the stack file. */
export function createLocalProvider(config: Config, logger: Logger, readFile: ReadFile): LocalProvider {
  const stackPath = stackPathOf(config);
  let text: string;
  try {
    text = readBounded(readFile, stackPath, config.maxFileBytes, 'ALERT_SCALER_STACK');
  } catch (err) {
    if (isFileTooLarge(err)) throw err;
    throw new AppError('CONFIG_INVALID', `ALERT_SCALER_STACK: cannot read ${stackPath}: ${(err as Error).message}`, { cause: err });
  }
  const functions = parseStack(text, stackPath, config.defaultNamespace);
  const defaults = policyDefaults(config);
  return new LocalProvider({
    functions,
    logger: logger.child({ component: 'local-provider' }),
    initialReplicas: (fn) => {
      const policy = parseScalingPolicy(fn.labels, fn.annotations, defaults);
      return policy.ok ? policy.policy.minReplicas : defaults.minReplicas;
    },
    healthPath: config.healthPath,
    healthIntervalMs: config.healthIntervalMs,
    startTimeoutMs: config.startTimeoutMs,
    drainGraceMs: config.drainGraceMs,
  });
}

/** One case per provider; the Kubernetes module (and client-node) loads only when chosen. */
export async function createProviderSetup(config: Config, logger: Logger, readFile: ReadFile, metrics?: Metrics): Promise<ProviderSetup> {
  switch (config.provider) {
    case 'local': {
      // Stack functions are read once: without one naming a policy there is nothing to watch.
      const provider = createLocalProvider(config, logger, readFile);
      const named = (await provider.listFunctions()).some((fn) => policyNameOf(fn.labels, fn.annotations) !== undefined);
      return named ? { provider, policies: new StackPolicySource({ path: stackPathOf(config), maxFileBytes: config.maxFileBytes, logger }) } : { provider };
    }
    case 'kubernetes': {
      const { createKubernetesSetup } = await import('../providers/kubernetes/index.js');
      return createKubernetesSetup(config, logger, metrics);
    }
  }
}

/**
 * Keeps the replica gauges (`gateway_service_count`, `gateway_service_available_replicas`)
 * current from the provider's changes, starts the provider and its setup, and sets every
 * function's gauges (and a zero invocation count) once. Returns the unsubscribe.
 */
export async function startProvider(provider: ReplicaProvider, setup: ProviderSetup, metrics: Metrics, defaultNamespace: string): Promise<() => void> {
  const unsubscribe = provider.subscribe((ref, state) => {
    metrics.serviceCount.set({ function_name: functionLabel(ref, defaultNamespace) }, state.desired);
    metrics.availableReplicas.set({ function_name: functionLabel(ref, defaultNamespace) }, state.ready);
  });
  await provider.start();
  await setup.start?.();
  for (const info of await provider.listFunctions()) {
    const fn = functionLabel(info.ref, defaultNamespace);
    metrics.invocationStarted.inc({ function_name: fn }, 0);
    metrics.serviceCount.set({ function_name: fn }, info.desired);
    metrics.availableReplicas.set({ function_name: fn }, info.ready);
  }
  return unsubscribe;
}
