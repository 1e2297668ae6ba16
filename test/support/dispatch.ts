import { systemClock } from '../../src/core/clock.js';
import { Dispatcher } from '../../src/engine/dispatcher.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { ReplicaProvider } from '../../src/providers/types.js';

/**
 * A dispatcher over `provider` on the real clock, as the gateway builds it (no concurrency
 * limit): what routes requests to the provider's replicas. Close it when done.
 */
export function dispatcherOver(provider: ReplicaProvider, defaultNamespace = 'openfaas-fn'): Dispatcher {
  return new Dispatcher({
    provider,
    clock: systemClock,
    metrics: createMetrics(),
    defaultNamespace,
    defaults: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 60_000, maxWaitMs: 10_000 },
  });
}
