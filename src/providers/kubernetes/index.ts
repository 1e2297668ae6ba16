/**
 * The one factory of everything Kubernetes: the provider (functions are Deployments that
 * opted in, label `faas_function=<name>` or `alert-scaler.io/enabled=true`), the alert state
 * store on the Deployments, gateway membership and bucket ownership on Leases (src/providers/
 * kubernetes/sharding.ts) and named policies (ConfigMaps). This folder
 * (src/providers/kubernetes/) is the only importer of @kubernetes/client-node.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { Config } from '../../config/index.js';
import { systemClock } from '../../core/clock.js';
import type { Metrics } from '../../metrics/registry.js';
import { AppError } from '../../errors.js';
import { checkFileSize } from '../../config/files.js';
import type { ProviderSetup } from '../setup.js';
import { KubeApi, loadKubeConfig } from './client.js';
import { EventAggregator, type ScaleEventApi } from './event-aggregate.js';
import { scaledEventSink } from './event-sink.js';
import { DEFAULT_API_BURST, DEFAULT_API_QPS, RateLimiter } from './rate-limit.js';
import { scaleEventBody, scaleEventMessage } from './scale-event.js';
import { LIST_PAGE_SIZE } from './list-watch.js';
import { ConfigMapPolicySource } from './policies.js';
import { KubernetesProvider, type KubernetesRouting } from './provider.js';
import { DeploymentSnapshots } from './snapshots.js';
import { Sharding } from './sharding.js';
import { KubernetesAlertStateStore } from './state-store.js';

export { KubernetesProvider, isOptedIn, FAAS_FUNCTION_LABEL, ENABLED_LABEL, LOWEST_DELETION_COST, type KubernetesRouting } from './provider.js';
export { KubeApi, loadKubeConfig } from './client.js';
export { KubernetesAlertStateStore, STATE_ANNOTATION } from './state-store.js';
export { Sharding, defaultIdentity } from './sharding.js';
export { BucketLeases, bucketOf, intendedOwners, BUCKET_LABEL } from './buckets.js';
export { Membership, MEMBER_LABEL, ADDRESS_ANNOTATION, LOAD_ANNOTATION } from './membership.js';
export { scaledEventSink, scaledMessage } from './event-sink.js';
export { ConfigMapPolicySource } from './policies.js';
export { DeploymentSnapshots, SNAPSHOT_MAX_AGE_MS } from './snapshots.js';
export { RateLimiter, DEFAULT_API_QPS, DEFAULT_API_BURST, type RequestPriority } from './rate-limit.js';
export { EventAggregator } from './event-aggregate.js';

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
  /** API requests per second (watches excluded); default DEFAULT_API_QPS; 0: no limit. */
  readonly apiQps?: number;
  /** Requests saved up above the rate; default DEFAULT_API_BURST. */
  readonly apiBurst?: number;
  /** Called on each 429 from the API (a metric). */
  readonly onThrottled?: () => void;
  /** Attempts of a Deployment write that meets 409 Conflict before PROVIDER_CONFLICT; default 5. */
  readonly conflictRetries?: number;
  /** After a 409, the longest wait for the watch to show the newer version before one live read, ms; default 500. */
  readonly conflictWaitMs?: number;
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
  /** The API client, for KubernetesAlertStateStore and the member and bucket Leases. */
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

/** As createKubernetesProvider, also returning the API client to share with the state store and the Leases. */
export function createKubernetesProviderBundle(options: KubernetesProviderOptions): KubernetesProviderBundle {
  const namespaces = options.namespaces ?? ['openfaas-fn'];
  if (namespaces.length === 0) throw new AppError('CONFIG_INVALID', 'the Kubernetes provider needs at least one namespace');
  const limiter = new RateLimiter({
    qps: options.apiQps ?? DEFAULT_API_QPS,
    burst: options.apiBurst ?? DEFAULT_API_BURST,
    clock: systemClock,
    ...(options.onThrottled === undefined ? {} : { onThrottled: options.onThrottled }),
  });
  const api = new KubeApi(loadKubeConfig(options.kubeconfig), options.requestTimeoutMs ?? 10_000, limiter);
  const snapshots = new DeploymentSnapshots();
  const provider = new KubernetesProvider({
    api,
    snapshots,
    namespaces,
    routing: options.routing ?? 'pod',
    functionUrlTemplate: options.functionUrlTemplate ?? DEFAULT_FUNCTION_URL_TEMPLATE,
    logger: options.logger,
    conflictRetries: options.conflictRetries ?? 5,
    ...(options.conflictWaitMs === undefined ? {} : { conflictWaitMs: options.conflictWaitMs }),
    minBackoffMs: options.minBackoffMs ?? 200,
    maxBackoffMs: options.maxBackoffMs ?? 10_000,
    watchDeadlineMs: options.watchDeadlineMs ?? 360_000,
    listPageSize: options.listPageSize ?? LIST_PAGE_SIZE,
  });
  return { provider, api, snapshots, defaultNamespace: options.defaultNamespace ?? namespaces[0] ?? 'openfaas-fn' };
}

/** Scaled Events of the provider's functions: created on the Deployment, bumped with PATCH (see EventAggregator). */
export function scaleEventApi(bundle: Pick<KubernetesProviderBundle, 'api' | 'provider'>): ScaleEventApi {
  return {
    async create(ref, change, count, now) {
      const facts = await bundle.provider.writes.read(ref);
      const created = await bundle.api.createEvent(ref.namespace, scaleEventBody(ref, facts, change, now, count));
      return created.metadata?.name ?? '';
    },
    async bump(ref, name, change, count, now) {
      await bundle.api.patchEvent(ref.namespace, name, { count, message: scaleEventMessage(change), lastTimestamp: now.toISOString() });
    },
  };
}

/** The Scaled Events' aggregator: one Event per function, bumped at most once per interval; drops counted in `metrics`. */
function eventAggregator(bundle: KubernetesProviderBundle, config: Config, logger: Logger, metrics: Metrics | undefined): EventAggregator {
  return new EventAggregator({
    api: scaleEventApi(bundle),
    clock: systemClock,
    logger,
    intervalMs: config.kubernetesEventIntervalSeconds * 1000,
    ...(metrics === undefined ? {} : { onDropped: (reason: 'queue_full' | 'failed') => metrics.kubernetesEventsDropped.inc({ reason }) }),
  });
}

/**
 * Builds the Kubernetes provider from the config (loaded only when ALERT_SCALER_PROVIDER=kubernetes),
 * with its alert state on the Deployments and the functions sharded over the gateways by bucket Leases; `metrics` counts 429s and dropped Events.
 */
export async function createKubernetesSetup(config: Config, logger: Logger, metrics?: Metrics): Promise<ProviderSetup> {
  // client-node reads the file whole: refuse an oversized one first (CONFIG_INVALID).
  if (config.kubeconfig !== undefined) checkFileSize(config.kubeconfig, config.maxFileBytes, 'KUBECONFIG');
  const bundle = createKubernetesProviderBundle({
    ...(config.kubeconfig === undefined ? {} : { kubeconfig: config.kubeconfig }),
    namespaces: config.namespaces,
    defaultNamespace: config.defaultNamespace,
    routing: config.kubernetesRouting,
    functionUrlTemplate: config.functionUrlTemplate,
    logger: logger.child({ component: 'kubernetes-provider' }),
    apiQps: config.kubernetesApiQps,
    apiBurst: config.kubernetesApiBurst,
    ...(metrics === undefined ? {} : { onThrottled: () => metrics.kubernetesApiThrottled.inc() }),
  });
  const eventLogger = logger.child({ component: 'kubernetes-events' });
  const aggregator = eventAggregator(bundle, config, eventLogger, metrics);
  const sharding = new Sharding({
    api: bundle.api,
    namespace: config.leaseNamespace,
    group: config.leaseName,
    buckets: config.buckets,
    leaseDurationSeconds: config.leaseDurationSeconds,
    renewMs: config.leaseRenewMs ?? Math.max(200, Math.floor((config.leaseDurationSeconds * 1000) / 5)),
    logger,
  });
  // An explicit ALERT_SCALER_GATEWAY_COUNT/INDEX is a static split: the members are not used for it.
  const staticShare = config.gatewayCount !== undefined;
  return {
    provider: bundle.provider,
    store: new KubernetesAlertStateStore({ api: bundle.api, namespaces: config.namespaces, logger, writes: bundle.provider.writes }),
    ownership: sharding.buckets,
    ...(staticShare ? {} : { members: sharding.membership }),
    remoteLoad: sharding.membership,
    attachGateway: (facts) => sharding.membership.attach(facts),
    policies: new ConfigMapPolicySource(bundle.api, config.namespaces, logger, { minBackoffMs: 200, maxBackoffMs: 10_000, watchDeadlineMs: 360_000 }),
    attachEvents: (events) =>
      events.addSink(
        scaledEventSink({
          record: (ref, from, to, message) => {
            aggregator.record(ref, { from, to, message });
            return Promise.resolve();
          },
          defaultNamespace: config.defaultNamespace,
          logger: eventLogger,
        }),
      ),
    start: async () => {
      await sharding.start();
    },
    stop: async () => {
      aggregator.close();
      // Alert state still lingering for a count write goes out now.
      await bundle.provider.writes.flushAll();
      await sharding.stop();
    },
  };
}
