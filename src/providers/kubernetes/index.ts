/**
 * The one factory of everything Kubernetes: the provider (functions are Deployments that
 * opted in, label `faas_function=<name>` or `alert-scaler.io/enabled=true`), the alert state
 * store on the Deployments, the idler's leader election and named policies (ConfigMaps). This folder
 * (src/providers/kubernetes/) is the only importer of @kubernetes/client-node.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { Config } from '../../config/index.js';
import { AppError } from '../../errors.js';
import { checkFileSize } from '../../config/files.js';
import type { ProviderSetup } from '../setup.js';
import { KubeApi, loadKubeConfig } from './client.js';
import { scaledEventSink } from './event-sink.js';
import { LeaderElector } from './leader.js';
import { LIST_PAGE_SIZE } from './list-watch.js';
import { ConfigMapPolicySource } from './policies.js';
import { KubernetesProvider, type KubernetesRouting } from './provider.js';
import { DeploymentSnapshots } from './snapshots.js';
import { KubernetesAlertStateStore } from './state-store.js';

export { KubernetesProvider, isOptedIn, FAAS_FUNCTION_LABEL, ENABLED_LABEL, LOWEST_DELETION_COST, type KubernetesRouting } from './provider.js';
export { KubeApi, loadKubeConfig } from './client.js';
export { KubernetesAlertStateStore, STATE_ANNOTATION } from './state-store.js';
export { LeaderElector } from './leader.js';
export { scaledEventSink, scaledMessage } from './event-sink.js';
export { ConfigMapPolicySource } from './policies.js';
export { DeploymentSnapshots, SNAPSHOT_MAX_AGE_MS } from './snapshots.js';

/** Default Service URL of a function; `{name}` and `{namespace}` are replaced. */
export const DEFAULT_FUNCTION_URL_TEMPLATE = 'http://{name}.{namespace}.svc.cluster.local:8080';

/** Options of createKubernetesProvider. Only `logger` is required. */
export interface KubernetesProviderOptions {
  /**
   * Where the cluster is: a KubeConfig, a kubeconfig file path, or undefined for the default
   * ($KUBECONFIG, else ~/.kube/config, else the in-cluster service account of the pod).
   * Nothing found is CONFIG_INVALID.
   */
  readonly kubeconfig?: KubeConfig | string;
  /** Namespaces whose Deployments are functions; default `['openfaas-fn']`. Never empty. */
  readonly namespaces?: readonly string[];
  /** Namespace of a bare function name; default the first of `namespaces`. */
  readonly defaultNamespace?: string;
  /** `pod` (default): requests go to ready pod addresses from EndpointSlices; `service`: to functionUrlTemplate. */
  readonly routing?: KubernetesRouting;
  /** URL of a function's Service (service routing); `{name}` and `{namespace}` are replaced. Default DEFAULT_FUNCTION_URL_TEMPLATE. */
  readonly functionUrlTemplate?: string;
  readonly logger: Logger;
  /** Upper bound of one API request in ms (watches excluded); default 10000; 0 disables it. */
  readonly requestTimeoutMs?: number;
  /** Attempts of a scale write that meets 409 Conflict before PROVIDER_CONFLICT; default 5. */
  readonly conflictRetries?: number;
  /** First delay after a failed list or watch in ms (doubles up to maxBackoffMs); default 200. */
  readonly minBackoffMs?: number;
  /** Longest delay between list/watch retries in ms; default 10000. */
  readonly maxBackoffMs?: number;
  /** A watch open longer than this (ms) is presumed dead and replaced by a re-list; default 360000. */
  readonly watchDeadlineMs?: number;
  /** Objects per list page (`limit` + `continue`); default 500 (LIST_PAGE_SIZE). */
  readonly listPageSize?: number;
}

/** The provider plus what the composition root needs next to it. */
export interface KubernetesProviderBundle {
  readonly provider: KubernetesProvider;
  /** The API client, for KubernetesAlertStateStore and LeaderElector. */
  readonly api: KubeApi;
  /** The provider's Deployment snapshots, for KubernetesAlertStateStore: one read per change cycle. */
  readonly snapshots: DeploymentSnapshots;
  readonly defaultNamespace: string;
}

/**
 * Creates the Kubernetes provider (not started: call `provider.start()`, which lists the
 * namespaces and fails with PROVIDER_FORBIDDEN / PROVIDER_UNAVAILABLE when it cannot).
 */
export function createKubernetesProvider(options: KubernetesProviderOptions): KubernetesProvider {
  return createKubernetesProviderBundle(options).provider;
}

/** As createKubernetesProvider, also returning the API client to share with the state store and the leader elector. */
export function createKubernetesProviderBundle(options: KubernetesProviderOptions): KubernetesProviderBundle {
  const namespaces = options.namespaces ?? ['openfaas-fn'];
  if (namespaces.length === 0) throw new AppError('CONFIG_INVALID', 'the Kubernetes provider needs at least one namespace');
  const api = new KubeApi(loadKubeConfig(options.kubeconfig), options.requestTimeoutMs ?? 10_000);
  const snapshots = new DeploymentSnapshots();
  const provider = new KubernetesProvider({
    api,
    snapshots,
    namespaces,
    routing: options.routing ?? 'pod',
    functionUrlTemplate: options.functionUrlTemplate ?? DEFAULT_FUNCTION_URL_TEMPLATE,
    logger: options.logger,
    conflictRetries: options.conflictRetries ?? 5,
    minBackoffMs: options.minBackoffMs ?? 200,
    maxBackoffMs: options.maxBackoffMs ?? 10_000,
    watchDeadlineMs: options.watchDeadlineMs ?? 360_000,
    listPageSize: options.listPageSize ?? LIST_PAGE_SIZE,
  });
  return { provider, api, snapshots, defaultNamespace: options.defaultNamespace ?? namespaces[0] ?? 'openfaas-fn' };
}

/**
 * Builds the Kubernetes provider from the config (loaded only when ALERT_SCALER_PROVIDER=kubernetes),
 * with its alert state on the Deployments and the idler behind a Lease.
 */
export async function createKubernetesSetup(config: Config, logger: Logger): Promise<ProviderSetup> {
  // client-node reads the file whole: refuse an oversized one first (CONFIG_INVALID).
  if (config.kubeconfig !== undefined) checkFileSize(config.kubeconfig, config.maxFileBytes, 'KUBECONFIG');
  const bundle = createKubernetesProviderBundle({
    ...(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }),
    namespaces: config.namespaces,
    defaultNamespace: config.defaultNamespace,
    routing: config.kubernetesRouting,
    functionUrlTemplate: config.functionUrlTemplate,
    logger: logger.child({ component: 'kubernetes-provider' }),
  });
  const elector = new LeaderElector({
    api: bundle.api,
    namespace: config.leaseNamespace,
    name: config.leaseName,
    // As kube-controller-manager: the pod name plus a unique suffix, so two instances never share a holder identity.
    identity: `${hostname()}_${randomUUID()}`,
    leaseDurationSeconds: config.leaseDurationSeconds,
    retryPeriodMs: Math.max(200, Math.floor((config.leaseDurationSeconds * 1000) / 5)),
    logger,
  });
  return {
    provider: bundle.provider,
    store: new KubernetesAlertStateStore({ api: bundle.api, namespaces: config.namespaces, logger, snapshots: bundle.snapshots }),
    isLeader: () => elector.isLeader(),
    policies: new ConfigMapPolicySource(bundle.api, config.namespaces, logger, { minBackoffMs: 200, maxBackoffMs: 10_000, watchDeadlineMs: 360_000 }),
    attachEvents: (events) =>
      events.addSink(
        scaledEventSink({
          record: (ref, from, to, message) => bundle.provider.recordScaleEvent(ref, from, to, message),
          defaultNamespace: config.defaultNamespace,
          logger: logger.child({ component: 'kubernetes-events' }),
        }),
      ),
    start: async () => {
      await elector.start();
    },
    stop: async () => {
      await elector.stop();
    },
  };
}
