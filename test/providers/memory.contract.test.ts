import { systemClock } from '../../src/core/clock.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';
import { runProviderContract } from './contract.js';

runProviderContract('memory', async () => {
  const provider = new MemoryProvider({
    clock: systemClock,
    defaultModel: { startMs: 20, stopMs: 10 },
    functions: [{ name: 'fn', namespace: 'openfaas-fn', replicas: 1, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5' } }],
  });
  return {
    provider,
    ref: { name: 'fn', namespace: 'openfaas-fn' },
    unknownRef: { name: 'nope', namespace: 'openfaas-fn' },
    close: () => provider.close(),
  };
});
