import type { Logger } from 'winston';
import { AppError, isAppError } from '../../errors.js';
import { refKey, type FunctionInfo, type FunctionRef, type ReplicaInfo, type ReplicaListener, type ReplicaProvider, type ReplicaState, type ScaleWrite } from '../types.js';
import { POD_DELETION_COST_ANNOTATION, type KubeApi } from './client.js';
import type { DeploymentLike, EndpointSliceLike, PodLike } from './objects.js';
import { DeploymentWrites } from './deployment-writes.js';
import { Informer, deploymentOf, deploymentSource, factsOf, sameMap, type DeploymentFacts } from './informer.js';
import type { InformerOptions } from './list-watch.js';
import { OPT_IN_SELECTORS, isOptedIn } from './opt-in.js';
import { ReplicaIndex } from './replica-index.js';
import { endpointSliceSource, podSource, type PodFacts, type SliceFacts } from './replicas.js';
import { scaleEventBody } from './scale-event.js';
import { DeploymentSnapshots } from './snapshots.js';

export { ENABLED_LABEL, FAAS_FUNCTION_LABEL, isOptedIn } from './opt-in.js';

/** Functions told per turn of the event loop when the first lists are done. */
const NOTIFY_BATCH = 500;

/**
 * Where the gateway sends a function's requests: `pod`, straight to the ready pod addresses
 * of its EndpointSlices (least in-flight, round robin among equals); `service`, to the
 * Service URL from the template (for meshes that must see the Service).
 */
export type KubernetesRouting = 'pod' | 'service';

/** The lowest pod-deletion-cost (int32 min): the ReplicaSet controller removes such pods first. */
export const LOWEST_DELETION_COST = String(-(2 ** 31));

export interface KubernetesProviderSettings {
  readonly api: KubeApi;
  readonly namespaces: readonly string[];
  readonly routing: KubernetesRouting;
  readonly functionUrlTemplate: string;
  readonly logger: Logger;
  readonly conflictRetries: number;
  /** Longest wait for the watch after a 409 before one live read, ms; default 500 (DeploymentWrites). */
  readonly conflictWaitMs?: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly watchDeadlineMs: number;
  /** Objects per list page; default LIST_PAGE_SIZE. */
  readonly listPageSize?: number;
  /** Shared with the alert state store so a change cycle reads the Deployment once; a private one when absent. */
  readonly snapshots?: DeploymentSnapshots;
}

/**
 * Functions are Deployments that opted in. Replicas change only through the scale
 * subresource with optimistic concurrency. Three label-selected list+watch caches of lean
 * records (OPT_IN_SELECTORS: nothing else reaches the process): the Deployments (desired
 * count, labels, the annotations read), their pods (replica ids, owners, creation times) and
 * the EndpointSlices of their Services (addresses and readiness: a replica is ready when its
 * endpoint is; a function without slices is routed to its pods' own addresses).
 */
export class KubernetesProvider implements ReplicaProvider {
  readonly kind = 'kubernetes';
  private readonly listeners = new Set<ReplicaListener>();
  private readonly informer: Informer<DeploymentLike, DeploymentFacts>;
  private readonly pods: Informer<PodLike, PodFacts>;
  private readonly slices: Informer<EndpointSliceLike, SliceFacts>;
  private readonly index: ReplicaIndex;
  private readonly logger: Logger;
  private readonly snapshots: DeploymentSnapshots;
  /**
   * Reads of the Deployments (from the watch cache) and every write of them (state and count
   * merged per function); shared with the alert state store (KubernetesAlertStateStore).
   */
  readonly writes: DeploymentWrites;
  private started = false;
  /**
   * While the first lists run: the functions that changed, told once each when they are done
   * (a function's Deployment, pod and slice would otherwise be three notifications, each of
   * them engine work, 30,000 at 10,000 functions); null once started.
   */
  private starting: Set<string> | null = null;

  constructor(private readonly settings: KubernetesProviderSettings) {
    this.logger = settings.logger.child({ component: 'kubernetes-provider' });
    this.snapshots = settings.snapshots ?? new DeploymentSnapshots();
    this.writes = new DeploymentWrites({
      api: settings.api,
      namespaces: settings.namespaces,
      snapshots: this.snapshots,
      view: { cached: (ref) => this.informer.get(ref.namespace, ref.name), synced: () => this.started },
      logger: this.logger,
      attempts: settings.conflictRetries,
      ...(settings.conflictWaitMs === undefined ? {} : { conflictWaitMs: settings.conflictWaitMs }),
    });
    this.snapshots.attachCache((ref) => {
      const facts = this.cached(ref);
      return facts === undefined ? undefined : deploymentOf(facts);
    });
    const { minBackoffMs, maxBackoffMs, watchDeadlineMs, listPageSize } = settings;
    const options: InformerOptions = { minBackoffMs, maxBackoffMs, watchDeadlineMs, ...(listPageSize === undefined ? {} : { pageSize: listPageSize }) };
    const { api, namespaces } = settings;
    this.index = new ReplicaIndex((fnKey) => {
      const slash = fnKey.indexOf('/');
      return this.informer.get(fnKey.slice(0, slash), fnKey.slice(slash + 1));
    });
    this.informer = new Informer(deploymentSource(api), namespaces, (prev, next) => this.changed(prev, next), this.logger, options);
    this.pods = new Informer(podSource(api), namespaces, (prev, next) => this.replicasChanged(this.index.podChanged(prev, next)), this.logger, options);
    this.slices = new Informer(endpointSliceSource(api), namespaces, (prev, next) => this.replicasChanged(this.index.sliceChanged(prev, next)), this.logger, options);
  }

  /** Lists Deployments, pods and EndpointSlices, then watches them; rejects (and stops) when a list fails. */
  async start(): Promise<void> {
    if (this.started) return;
    const caches = [this.informer, this.pods, this.slices];
    this.starting = new Set();
    const results = await Promise.allSettled(caches.map((c) => c.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const changed = this.starting;
    this.starting = null;
    if (failed !== undefined) {
      await Promise.all(caches.map((c) => c.stop()));
      throw failed.reason;
    }
    this.started = true;
    await this.tellInBatches([...changed]);
    this.logger.info('provider started', { namespaces: this.settings.namespaces, routing: this.settings.routing, functions: this.informer.size });
  }

  async close(): Promise<void> {
    await Promise.all([this.informer.stop(), this.pods.stop(), this.slices.stop()]);
    this.started = false;
  }

  /**
   * The Deployment from the watch cache (or this process's own last write, until the watch
   * has it): no live read once the caches have listed. `ready`: with pod routing, the ready
   * endpoints (from the cache once started); with service routing, the Deployment's
   * available replicas.
   */
  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    return this.stateOf(await this.writes.read(ref));
  }

  /**
   * The function's Deployment as the watch last showed it (lean facts: labels, the annotations
   * read, desired, ready, resourceVersion), or undefined when it is not cached (not started,
   * not a managed function of a watched namespace). Never an API call.
   */
  cached(ref: FunctionRef): DeploymentFacts | undefined {
    if (!this.started) return undefined;
    const facts = this.informer.get(ref.namespace, ref.name);
    return facts !== undefined && isOptedIn(facts.labels) ? facts : undefined;
  }

  /** Sets the desired count: a merge patch of spec.replicas at the cached resourceVersion, with any staged alert state (see DeploymentWrites). */
  async setReplicas(ref: FunctionRef, replicas: number, write?: ScaleWrite): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new AppError('BAD_REQUEST', `replicas must be a non-negative integer, got ${replicas}`);
    await this.writes.scale(ref, () => replicas, write?.fence);
  }

  /**
   * Removes these pods: no more requests go to them (draining), each gets the lowest
   * pod-deletion-cost, then the scale drops by the number of them that still exist, so the
   * ReplicaSet controller deletes exactly them. On failure they take requests again.
   */
  async removeReplicas(ref: FunctionRef, ids: readonly string[], write?: ScaleWrite): Promise<void> {
    this.writes.watched(ref);
    const key = refKey(ref);
    const known = new Map(this.listReplicas(ref).map((r) => [r.id, r]));
    const targets = [...new Set(ids)].filter((id) => {
      const phase = known.get(id)?.phase;
      return phase !== undefined && phase !== 'stopping';
    });
    if (targets.length === 0) {
      // Nothing to remove; still an unknown or opted-out function is an error, as for every call.
      await this.writes.read(ref);
      return;
    }
    this.replicasChanged(this.index.setDraining(key, targets, true) ? [key] : []);
    try {
      const marked: string[] = [];
      for (const id of targets) {
        try {
          write?.fence?.();
          await this.settings.api.patchPodAnnotations(ref.namespace, id, { [POD_DELETION_COST_ANNOTATION]: LOWEST_DELETION_COST });
          marked.push(id);
        } catch (err) {
          // 404: the pod went meanwhile (or the id was an endpoint without a pod); nothing to remove.
          if (!isAppError(err, 'FUNCTION_UNKNOWN')) throw err;
        }
      }
      if (marked.length === 0) return;
      const { from, to } = await this.writes.scale(ref, (current) => Math.max(0, current - marked.length), write?.fence);
      this.logger.info('replicas removed', { function: key, replicas: marked, from, to });
    } catch (err) {
      this.replicasChanged(this.index.setDraining(key, targets, false) ? [key] : []);
      throw err;
    }
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    const all = this.started ? this.informer.all() : await this.listLive();
    return all
      .filter((f) => isOptedIn(f.labels))
      .sort((a, b) => refKey(a).localeCompare(refKey(b)))
      .map((f) => ({ ref: { name: f.name, namespace: f.namespace }, ...this.stateOf(f) }));
  }

  /**
   * The function's pods joined with their endpoints, from the caches; empty for an unknown
   * function. Pod routing: each replica's address is its pod's. Service routing: every
   * replica with an address gets the Service URL instead, so the dispatcher still counts
   * slots per replica while the Service (or mesh) picks the pod.
   */
  listReplicas(ref: FunctionRef): readonly ReplicaInfo[] {
    const facts = this.informer.get(ref.namespace, ref.name);
    if (facts === undefined || !isOptedIn(facts.labels)) return [];
    const replicas = this.index.replicas(refKey(ref));
    if (this.settings.routing === 'pod') return replicas;
    const url = new URL(this.settings.functionUrlTemplate.replaceAll('{name}', ref.name).replaceAll('{namespace}', ref.namespace));
    return replicas.map((r) => (r.address === null ? r : { ...r, address: url }));
  }

  subscribe(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Creates a Kubernetes Event on the function's Deployment, as the HPA does: reason
   * `Scaled`, type Normal, message `New size: <to> (was <from>); reason: <message>`.
   */
  async recordScaleEvent(ref: FunctionRef, from: number, to: number, message: string): Promise<void> {
    const facts = this.informer.get(ref.namespace, ref.name) ?? factsOf(await this.settings.api.getDeployment(ref.namespace, ref.name));
    await this.settings.api.createEvent(ref.namespace, scaleEventBody(ref, facts, { from, to, message }, new Date()));
  }

  /** Before start: the managed Deployments, listed live (one list per namespace and selector). */
  private async listLive(): Promise<DeploymentFacts[]> {
    const { api, namespaces } = this.settings;
    const lists = await Promise.all(namespaces.flatMap((ns) => OPT_IN_SELECTORS.map((labelSelector) => api.listDeployments(ns, { labelSelector }))));
    return lists.flatMap((l) => l.items.map(factsOf));
  }

  private stateOf(facts: DeploymentFacts): ReplicaState {
    const ready = this.settings.routing === 'pod' && this.started ? this.index.readyCount(refKey(facts)) : facts.ready;
    return { desired: facts.desired, ready, labels: facts.labels, annotations: facts.annotations };
  }

  /**
   * A Deployment changed: listeners hear of it when its desired or ready count, its labels
   * or an annotation alert-scaler reads (the alert state, scale settings) changed, or its
   * replica list moved; a status-only write that changes none of those is silent.
   */
  private changed(previous: DeploymentFacts | null, next: DeploymentFacts | null): void {
    const moved = this.index.deploymentChanged(previous, next);
    const current = next ?? previous;
    if (current === null) return;
    this.snapshots.observed(current, next?.resourceVersion ?? null);
    const key = refKey(current);
    if (!isOptedIn(current.labels)) return;
    const same = previous !== null && next !== null && isOptedIn(previous.labels) && previous.desired === next.desired && previous.ready === next.ready
      && sameMap(previous.labels, next.labels) && sameMap(previous.annotations, next.annotations) && previous.alertState === next.alertState;
    if (same && !moved.includes(key)) return;
    this.notify(current, next === null ? { desired: 0, ready: 0, labels: current.labels, annotations: current.annotations } : this.stateOf(next));
  }

  /** Tells listeners about these functions, NOTIFY_BATCH per turn of the event loop (each is engine work: 50,000 at once would hold the loop for seconds). */
  private async tellInBatches(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += NOTIFY_BATCH) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      this.replicasChanged(keys.slice(i, i + NOTIFY_BATCH));
    }
  }

  /** Tells listeners about functions whose replica list changed (only opted-in Deployments). */
  private replicasChanged(keys: readonly string[]): void {
    for (const key of keys) {
      const slash = key.indexOf('/');
      const facts = this.informer.get(key.slice(0, slash), key.slice(slash + 1));
      if (facts !== undefined && isOptedIn(facts.labels)) this.notify(facts, this.stateOf(facts));
    }
  }

  private notify(current: DeploymentFacts, state: ReplicaState): void {
    if (this.starting !== null) {
      this.starting.add(refKey(current));
      return;
    }
    const ref = { name: current.name, namespace: current.namespace };
    for (const listener of this.listeners) {
      try {
        listener(ref, state);
      } catch (err) {
        this.logger.error('replica listener failed', { function: refKey(ref), error: String(err) });
      }
    }
  }
}
