import { hostname } from 'node:os';
import type { Logger } from 'winston';
import { AppError, isAppError } from '../../errors.js';
import { refKey, type FunctionInfo, type FunctionRef, type ReplicaListener, type ReplicaProvider, type ReplicaState, type Upstream } from '../types.js';
import type { DeploymentLike, KubeApi } from './client.js';
import { DeploymentInformer, factsOf, type DeploymentFacts } from './informer.js';

/** Label OpenFaaS puts on function Deployments; its presence opts a Deployment in. */
export const FAAS_FUNCTION_LABEL = 'faas_function';
/** Label that opts any Deployment in when set to `true`. */
export const ENABLED_LABEL = 'alert-scaler.io/enabled';

/** True when a Deployment carries `faas_function=<name>` or `alert-scaler.io/enabled=true`. */
export function isOptedIn(labels: Readonly<Record<string, string>>): boolean {
  return (labels[FAAS_FUNCTION_LABEL] ?? '') !== '' || labels[ENABLED_LABEL] === 'true';
}

export interface KubernetesProviderSettings {
  readonly api: KubeApi;
  readonly namespaces: readonly string[];
  readonly functionUrlTemplate: string;
  readonly logger: Logger;
  readonly conflictRetries: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly watchDeadlineMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Functions are Deployments that opted in. Replicas change only through the scale
 * subresource with optimistic concurrency; readiness comes from a list+watch cache.
 */
export class KubernetesProvider implements ReplicaProvider {
  readonly kind = 'kubernetes';
  private readonly listeners = new Set<ReplicaListener>();
  private readonly informer: DeploymentInformer;
  private readonly logger: Logger;
  private started = false;

  constructor(private readonly settings: KubernetesProviderSettings) {
    this.logger = settings.logger.child({ component: 'kubernetes-provider' });
    this.informer = new DeploymentInformer(settings.api, settings.namespaces, (prev, next) => this.changed(prev, next), this.logger, {
      minBackoffMs: settings.minBackoffMs,
      maxBackoffMs: settings.maxBackoffMs,
      watchDeadlineMs: settings.watchDeadlineMs,
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    await this.informer.start();
    this.started = true;
    this.logger.info('provider started', { namespaces: this.settings.namespaces });
  }

  async close(): Promise<void> {
    await this.informer.stop();
    this.started = false;
  }

  /** Reads the Deployment live (not from the cache), so decisions start from the current desired count. */
  async getReplicas(ref: FunctionRef): Promise<ReplicaState> {
    const facts = factsOf(await this.enabledDeployment(ref));
    return { desired: facts.desired, ready: facts.ready, labels: facts.labels, annotations: facts.annotations };
  }

  /**
   * Read scale, write it back with its resourceVersion; on 409 re-read and retry, at most
   * `conflictRetries` attempts. The opt-in label is checked at the same resourceVersion as
   * the write, so a Deployment that opts out meanwhile is never touched.
   */
  async setReplicas(ref: FunctionRef, replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new AppError('BAD_REQUEST', `replicas must be a non-negative integer, got ${replicas}`);
    let lastConflict: AppError | undefined;
    for (let attempt = 1; attempt <= this.settings.conflictRetries; attempt += 1) {
      const deployment = await this.enabledDeployment(ref);
      const scale = await this.settings.api.readScale(ref.namespace, ref.name);
      const version = scale.metadata?.resourceVersion ?? '';
      try {
        if (version !== deployment.metadata?.resourceVersion) {
          throw new AppError('PROVIDER_CONFLICT', `${refKey(ref)} changed between reading it and its scale`);
        }
        const from = scale.spec?.replicas ?? 0;
        if (from === replicas) return;
        await this.settings.api.replaceScale(ref.namespace, ref.name, version, replicas);
        this.logger.info('scale applied', { function: refKey(ref), from, to: replicas, attempt });
        return;
      } catch (err) {
        if (!isAppError(err, 'PROVIDER_CONFLICT')) throw err;
        lastConflict = err;
        this.logger.debug('scale conflict', { function: refKey(ref), attempt });
        // As client-go's DefaultRetry: about 10 ms between attempts, jittered.
        await sleep(10 + Math.random() * 5);
      }
    }
    throw new AppError('PROVIDER_CONFLICT', `${refKey(ref)} kept changing; gave up after ${this.settings.conflictRetries} attempts`, {
      cause: lastConflict,
    });
  }

  async listFunctions(): Promise<FunctionInfo[]> {
    const all = this.started ? this.informer.all() : await this.listLive();
    return all
      .filter((f) => isOptedIn(f.labels))
      .sort((a, b) => refKey(a).localeCompare(refKey(b)))
      .map((f) => ({ ref: { name: f.name, namespace: f.namespace }, desired: f.desired, ready: f.ready, labels: f.labels, annotations: f.annotations }));
  }

  /** The function's Service URL when the cache says a replica is ready; else null. */
  pickUpstream(ref: FunctionRef): Upstream | null {
    const facts = this.informer.get(ref.namespace, ref.name);
    if (facts === undefined || !isOptedIn(facts.labels) || facts.ready <= 0) return null;
    const url = new URL(this.settings.functionUrlTemplate.replaceAll('{name}', ref.name).replaceAll('{namespace}', ref.namespace));
    // The Service balances; nothing to count here.
    return { url, release: () => undefined };
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
    const now = new Date();
    await this.settings.api.createEvent(ref.namespace, {
      metadata: { name: `${ref.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: ref.namespace },
      involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: ref.name, namespace: ref.namespace, uid: facts.uid, resourceVersion: facts.resourceVersion },
      reason: 'Scaled',
      type: 'Normal',
      message: `New size: ${to} (was ${from}); reason: ${message}`,
      source: { component: 'alert-scaler' },
      reportingComponent: 'alert-scaler',
      reportingInstance: hostname(),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }

  private watched(ref: FunctionRef): void {
    if (!this.settings.namespaces.includes(ref.namespace)) {
      throw new AppError('FUNCTION_UNKNOWN', `${refKey(ref)} is not in a watched namespace (${this.settings.namespaces.join(', ')})`);
    }
  }

  private async enabledDeployment(ref: FunctionRef): Promise<DeploymentLike> {
    this.watched(ref);
    const deployment = await this.settings.api.getDeployment(ref.namespace, ref.name);
    if (!isOptedIn(deployment.metadata?.labels ?? {})) {
      throw new AppError('FUNCTION_NOT_ENABLED', `${refKey(ref)} has neither ${FAAS_FUNCTION_LABEL} nor ${ENABLED_LABEL}=true`);
    }
    return deployment;
  }

  private async listLive(): Promise<DeploymentFacts[]> {
    const lists = await Promise.all(this.settings.namespaces.map((ns) => this.settings.api.listDeployments(ns)));
    return lists.flatMap((l) => l.items.map(factsOf));
  }

  private changed(previous: DeploymentFacts | null, next: DeploymentFacts | null): void {
    const current = next ?? previous;
    if (current === null || !isOptedIn(current.labels)) return;
    const desired = next?.desired ?? 0;
    const ready = next?.ready ?? 0;
    if (previous !== null && next !== null && isOptedIn(previous.labels) && previous.desired === desired && previous.ready === ready) return;
    const ref = { name: current.name, namespace: current.namespace };
    const state: ReplicaState = { desired, ready, labels: current.labels, annotations: current.annotations };
    for (const listener of this.listeners) {
      try {
        listener(ref, state);
      } catch (err) {
        this.logger.error('replica listener failed', { function: refKey(ref), error: String(err) });
      }
    }
  }
}
