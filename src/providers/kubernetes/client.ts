/**
 * The thin boundary around @kubernetes/client-node: typed calls for exactly the verbs and
 * resources alert-scaler uses (and that deploy/kubernetes RBAC grants), each bounded by a
 * timeout and translated into an AppError. Nothing outside src/providers/kubernetes*
 * imports client-node.
 */
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  KubeConfig,
  type CoreV1Event,
  type V1Deployment,
  type V1Lease,
} from '@kubernetes/client-node';
import { systemClock } from '../../core/clock.js';
import { AppError } from '../../errors.js';
import { translateKubeError, type KubeAction } from './errors.js';
import { reuseOneAgent } from './keep-alive.js';
import { DEFAULT_API_BURST, DEFAULT_API_QPS, RateLimiter, retryAfterMs, type RequestPriority } from './rate-limit.js';
import { selectorQuery, type ListOptions, type Listed } from './list-options.js';
import { rawList, rawRequest, rawWatch } from './raw-list.js';
import type { ConfigMapLike, DeploymentLike, EndpointSliceLike, EventLike, PodLike, WatchEvent } from './objects.js';

export type { V1Deployment, V1Lease } from '@kubernetes/client-node';
export { V1MicroTime } from '@kubernetes/client-node';

/** The annotation the ReplicaSet controller reads to choose which pods a scale-down removes. */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** The content type of a JSON merge patch. */
const MERGE_PATCH = 'application/merge-patch+json';
/** The core Events of a namespace. */
const eventsPath = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * Loads a kubeconfig: a KubeConfig object as is, a path to a file, or (undefined) the
 * default as client-node orders it: $KUBECONFIG, else ~/.kube/config, else the in-cluster
 * service account. When none exists client-node would silently use http://localhost:8080;
 * that is refused here with CONFIG_INVALID.
 */
export function loadKubeConfig(source?: KubeConfig | string): KubeConfig {
  if (source instanceof KubeConfig) return source;
  const kc = new KubeConfig();
  try {
    if (source === undefined) kc.loadFromDefault();
    else kc.loadFromFile(source);
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `cannot load kubeconfig${source === undefined ? '' : ` ${source}`}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (source === undefined && kc.getCurrentContext() === 'loaded-context' && kc.getCurrentCluster()?.server === 'http://localhost:8080') {
    throw new AppError('CONFIG_INVALID', 'no Kubernetes credentials found: set KUBECONFIG, provide ~/.kube/config, or run in a pod with a service account');
  }
  return kc;
}

/** A 429's pause in ms (its Retry-After, else 1 s); undefined for any other error. */
function pauseOf429(err: unknown): number | undefined {
  if (statusOf(err) !== 429) return undefined;
  const headers = (err as { headers?: Record<string, string | undefined> }).headers ?? {};
  return retryAfterMs(headers['retry-after'] ?? headers['Retry-After'], Date.now()) ?? 1000;
}

/**
 * Typed Kubernetes calls with a per-request timeout and error translation, every one but the
 * watches within the client's budget (`limiter`): a token bucket with priorities, paused by a
 * 429's Retry-After (see RateLimiter).
 */
export class KubeApi {
  private readonly apps: AppsV1Api;
  private readonly coordination: CoordinationV1Api;

  /**
   * @param requestTimeoutMs upper bound for one request (watches excluded; time waiting for
   *   the budget not counted); 0 disables it.
   * @param limiter the request budget; DEFAULT_API_QPS / DEFAULT_API_BURST on the system clock when absent.
   */
  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly requestTimeoutMs: number,
    readonly limiter: RateLimiter = new RateLimiter({ qps: DEFAULT_API_QPS, burst: DEFAULT_API_BURST, clock: systemClock }),
  ) {
    reuseOneAgent(kubeConfig);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  getDeployment(namespace: string, name: string): Promise<V1Deployment> {
    return this.call({ verb: 'get', resource: 'deployments', namespace, name }, () => this.apps.readNamespacedDeployment({ name, namespace }));
  }

  /** The Deployments of a namespace (or one page of those a selector picks). */
  listDeployments(namespace: string, options: ListOptions = {}): Promise<Listed<DeploymentLike>> {
    return this.call({ verb: 'list', resource: 'deployments', namespace }, () => rawList(this.kubeConfig, `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`, options), 'scale');
  }

  /**
   * Opens a watch on the Deployments of a namespace from `resourceVersion`. `onDone` is called
   * once when the stream ends: null for a clean close, else the error (HTTP status in `statusCode`).
   */
  watchDeployments(namespace: string, resourceVersion: string, onEvent: (event: WatchEvent) => void, onDone: (err: unknown) => void, labelSelector?: string): Promise<AbortController> {
    return this.watch(`/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`, selectorQuery(labelSelector), resourceVersion, onEvent, onDone);
  }

  /** The pods of a namespace (or one page of those a selector picks). */
  listPods(namespace: string, options: ListOptions = {}): Promise<Listed<PodLike>> {
    return this.call({ verb: 'list', resource: 'pods', namespace }, () => rawList(this.kubeConfig, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, options), 'scale');
  }

  /** Watches the pods of a namespace (those `labelSelector` picks); as watchDeployments. */
  watchPods(namespace: string, resourceVersion: string, onEvent: (event: WatchEvent<PodLike>) => void, onDone: (err: unknown) => void, labelSelector?: string): Promise<AbortController> {
    return this.watch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, selectorQuery(labelSelector), resourceVersion, onEvent, onDone);
  }

  /** The EndpointSlices of a namespace (or one page of those a selector picks). */
  listEndpointSlices(namespace: string, options: ListOptions = {}): Promise<Listed<EndpointSliceLike>> {
    return this.call({ verb: 'list', resource: 'endpointslices', namespace }, () =>
      rawList(this.kubeConfig, `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`, options), 'scale');
  }

  /** Watches the EndpointSlices of a namespace (those `labelSelector` picks); as watchDeployments. */
  watchEndpointSlices(namespace: string, resourceVersion: string, onEvent: (event: WatchEvent<EndpointSliceLike>) => void, onDone: (err: unknown) => void, labelSelector?: string): Promise<AbortController> {
    return this.watch(`/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`, selectorQuery(labelSelector), resourceVersion, onEvent, onDone);
  }

  /** The ConfigMaps of a namespace (named policies are ConfigMaps; any may be one), or one page of them. */
  listConfigMaps(namespace: string, options: ListOptions = {}): Promise<Listed<ConfigMapLike>> {
    return this.call({ verb: 'list', resource: 'configmaps', namespace }, () => rawList(this.kubeConfig, `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`, options), 'scale');
  }

  /** Watches the ConfigMaps of a namespace; as watchDeployments. */
  watchConfigMaps(namespace: string, resourceVersion: string, onEvent: (event: WatchEvent<ConfigMapLike>) => void, onDone: (err: unknown) => void, labelSelector?: string): Promise<AbortController> {
    return this.watch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`, selectorQuery(labelSelector), resourceVersion, onEvent, onDone);
  }

  /** Merge-patches a pod's annotations (a null value removes one); part of a scale-down, so at scale priority. Plain JSON (raw-list.ts). */
  patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<PodLike> {
    return this.call({ verb: 'patch', resource: 'pods', namespace, name }, () =>
      rawRequest<PodLike>(this.kubeConfig, 'PATCH', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, { body: { metadata: { annotations } }, contentType: MERGE_PATCH }), 'scale');
  }

  /**
   * One JSON merge patch of a Deployment: metadata (annotations) and, when given, spec.replicas
   * (the state annotation and the count in one write); `metadata.resourceVersion` in it is a
   * precondition (409 when stale). `priority`: `scale` when it carries a count, else `state`.
   * Sent and answered as plain JSON (raw-list.ts): the hot write of every alert step.
   */
  patchDeployment(namespace: string, name: string, body: { metadata: Record<string, unknown>; spec?: { replicas: number } }, priority: RequestPriority): Promise<DeploymentLike> {
    return this.call({ verb: 'patch', resource: 'deployments', namespace, name }, () =>
      rawRequest<DeploymentLike>(this.kubeConfig, 'PATCH', `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`, { body, contentType: MERGE_PATCH }), priority);
  }

  /**
   * Creates an Event; plain JSON (raw-list.ts) as the Deployment patch it follows: its model
   * classes and node-fetch cost more CPU per scale than the step's own patch. Dates go as
   * RFC 3339 text (JSON.stringify), as client-node's serializer sends them.
   */
  createEvent(namespace: string, body: CoreV1Event): Promise<EventLike> {
    return this.call({ verb: 'create', resource: 'events', namespace }, () => rawRequest<EventLike>(this.kubeConfig, 'POST', eventsPath(namespace), { body }), 'event');
  }

  /** Merge-patches an Event (its count, message and lastTimestamp: a repeat of the same event); plain JSON. */
  patchEvent(namespace: string, name: string, patch: Record<string, unknown>): Promise<EventLike> {
    return this.call({ verb: 'patch', resource: 'events', namespace, name }, () =>
      rawRequest<EventLike>(this.kubeConfig, 'PATCH', `${eventsPath(namespace)}/${encodeURIComponent(name)}`, { body: patch, contentType: MERGE_PATCH }), 'event');
  }

  /** The Lease, or null when it does not exist. */
  async getLease(namespace: string, name: string): Promise<V1Lease | null> {
    try {
      return await this.call({ verb: 'get', resource: 'leases', namespace, name }, () => this.coordination.readNamespacedLease({ name, namespace }), 'scale');
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  createLease(namespace: string, body: V1Lease): Promise<V1Lease> {
    return this.call({ verb: 'create', resource: 'leases', namespace }, () => this.coordination.createNamespacedLease({ namespace, body }), 'scale');
  }

  /** Replaces a Lease; its metadata.resourceVersion is the precondition. */
  replaceLease(namespace: string, name: string, body: V1Lease): Promise<V1Lease> {
    return this.call({ verb: 'update', resource: 'leases', namespace, name }, () => this.coordination.replaceNamespacedLease({ name, namespace, body }), 'scale');
  }

  /** The Leases of a namespace that match `labelSelector` (gateway members, buckets); at scale priority, as every Lease call (a late round costs a failover). */
  async listLeases(namespace: string, labelSelector: string): Promise<Listed<V1Lease>> {
    const list = await this.call({ verb: 'list', resource: 'leases', namespace }, () => this.coordination.listNamespacedLease({ namespace, labelSelector }), 'scale');
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /** Deletes a Lease; one already gone is not an error. */
  /** Deletes a Lease (gone already: done); with `resourceVersion`, only that version of it (else PROVIDER_CONFLICT). */
  async deleteLease(namespace: string, name: string, resourceVersion?: string): Promise<void> {
    const body = resourceVersion === undefined ? {} : { body: { preconditions: { resourceVersion } } };
    try {
      await this.call({ verb: 'delete', resource: 'leases', namespace, name }, () => this.coordination.deleteNamespacedLease({ name, namespace, ...body }), 'scale');
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw err;
    }
  }

  private watch<T>(path: string, query: Record<string, string>, resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<AbortController> {
    return rawWatch(
      this.kubeConfig,
      path,
      // The apiserver ends a watch after timeoutSeconds; jitter spreads the re-lists.
      { ...query, resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(240 + Math.floor(Math.random() * 60)) },
      (type, object) => onEvent({ type: type as WatchEvent<T>['type'], object: object as WatchEvent<T>['object'] }),
      onDone,
    );
  }

  /**
   * Sends a request within the budget at `priority` (default `state`: a one-off read), a 429
   * paused for and resent as RateLimiter.run says, the error translated at the end.
   */
  private async call<T>(action: KubeAction, request: () => Promise<T>, priority: RequestPriority = 'state'): Promise<T> {
    try {
      return await this.limiter.run(priority, () => this.timed(request), pauseOf429);
    } catch (err) {
      throw translateKubeError(err, action);
    }
  }

  /** Bounds a request in time; client-node 1.x cannot cancel it, so a late answer is ignored. */
  private async timed<T>(request: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = request();
      if (this.requestTimeoutMs <= 0) return await pending;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`request timed out after ${this.requestTimeoutMs} ms`)), this.requestTimeoutMs);
      });
      return await Promise.race([pending, timeout]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

/** The HTTP status behind an error from KubeApi (translated or not), if there was one. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (err instanceof Error && err.cause instanceof ApiException) return err.cause.code;
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
