import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';
import { NamedPolicyProvider } from '../../src/engine/named-policies.js';
import { MemoryPolicySource } from '../support/named-source.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { runProviderContract } from './contract.js';

const NS = 'openfaas-fn';

// The decorator over the memory provider: the function's own labels say max 3, the policy it
// names says min 1 and max 5 (the contract expects 5, so the overlay is what it reads).
runProviderContract('named policies over memory', async () => {
  const memory = new MemoryProvider({
    clock: systemClock,
    defaultModel: { startMs: 20, stopMs: 10 },
    functions: [{ name: 'fn', namespace: NS, replicas: 1, labels: { 'com.openfaas.scale.policy': 'small', 'com.openfaas.scale.max': '3' } }],
  });
  // Loaded by start(), as the real sources do: a notification during the inner provider's start sees no policy yet.
  const source = new MemoryPolicySource([[NS, 'small', { min_workers: '1', max_workers: '5' }]]);
  const provider = new NamedPolicyProvider(memory, source, {
    logger: silentLogger(),
    defaults: {
      policy: DEFAULT_POLICY,
      spec: { minReplicas: DEFAULT_POLICY.minReplicas, maxReplicas: DEFAULT_POLICY.maxReplicas, maxReplicasCeiling: 100 },
      request: { concurrency: 0, maxQueued: 100, requestTimeoutMs: 60_000, maxWaitMs: 10_000 },
    },
    defaultNamespace: NS,
  });
  return {
    provider,
    ref: { name: 'fn', namespace: NS },
    unknownRef: { name: 'nope', namespace: NS },
    relabel: async () => {
      source.set(NS, 'small', { min_workers: '1', max_workers: '4' });
      return { 'com.openfaas.scale.max': '4' };
    },
    close: () => provider.close(),
  };
}, { relabels: true });
