import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import { createKubernetesProviderBundle } from './kubernetes.js';
import { KubernetesAlertStateStore } from './kubernetes-state-store.js';
import { LeaderElector } from './leader.js';
import type { ProviderSetup } from './types.js';

/**
 * Builds the Kubernetes provider from the config (loaded only when ALERT_SCALER_PROVIDER=kubernetes),
 * with its alert state on the Deployments and the idler behind a Lease.
 */
export async function createKubernetesSetup(config: Config, logger: Logger): Promise<ProviderSetup> {
  const bundle = createKubernetesProviderBundle({
    ...(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }),
    namespaces: config.namespaces,
    defaultNamespace: config.defaultNamespace,
    functionUrlTemplate: config.functionUrlTemplate,
    logger: logger.child({ component: 'kubernetes-provider' }),
  });
  const elector = new LeaderElector({
    api: bundle.api,
    namespace: config.leaseNamespace,
    name: config.leaseName,
    leaseDurationSeconds: config.leaseDurationSeconds,
    retryPeriodMs: Math.max(200, Math.floor((config.leaseDurationSeconds * 1000) / 5)),
    logger,
  });
  return {
    provider: bundle.provider,
    store: new KubernetesAlertStateStore({ api: bundle.api, namespaces: config.namespaces, logger }),
    isLeader: () => elector.isLeader(),
    onScaled: (ref, from, to, message) => bundle.provider.recordScaleEvent(ref, from, to, message),
    start: async () => {
      await elector.start();
    },
    stop: async () => {
      await elector.stop();
    },
  };
}
