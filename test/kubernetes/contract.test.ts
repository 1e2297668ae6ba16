/** The shared provider contract, run against the Kubernetes provider and the fake API server. */
import { createKubernetesProvider } from '../../src/providers/kubernetes/index.js';
import { runProviderContract } from '../providers/contract.js';
import { quietLogger, startFake } from './helpers.js';

runProviderContract('kubernetes', async () => {
  const fake = await startFake({ readyDelayMs: 10 });
  fake.fake.addDeployment({
    name: 'fn', namespace: 'openfaas-fn', replicas: 1,
    labels: { faas_function: 'fn', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5' },
  });
  const provider = createKubernetesProvider({ kubeconfig: fake.kubeconfig, logger: quietLogger(), minBackoffMs: 20 });
  return {
    provider,
    ref: { name: 'fn', namespace: 'openfaas-fn' },
    unknownRef: { name: 'nope', namespace: 'openfaas-fn' },
    async close() {
      await provider.close();
      await fake.close();
    },
  };
});
