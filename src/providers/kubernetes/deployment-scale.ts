import type { Logger } from 'winston';
import { AppError, isAppError } from '../../errors.js';
import { refKey, type FunctionRef } from '../types.js';
import type { DeploymentLike, KubeApi } from './client.js';
import { factsOf } from './informer.js';
import { ENABLED_LABEL, FAAS_FUNCTION_LABEL, isOptedIn } from './opt-in.js';
import type { DeploymentSnapshots } from './snapshots.js';

/** What the live reads and the scale writes need from the provider's settings. */
export interface DeploymentScaleSettings {
  readonly api: KubeApi;
  readonly namespaces: readonly string[];
  readonly conflictRetries: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A function's Deployment read live and its scale written: only in a watched namespace, only
 * when it opted in, each read kept as the snapshot the change cycle's write starts from.
 */
export class DeploymentScale {
  constructor(
    private readonly settings: DeploymentScaleSettings,
    private readonly snapshots: DeploymentSnapshots,
    private readonly logger: Logger,
  ) {}

  /** FUNCTION_UNKNOWN unless the function's namespace is watched. */
  watched(ref: FunctionRef): void {
    if (!this.settings.namespaces.includes(ref.namespace)) {
      throw new AppError('FUNCTION_UNKNOWN', `${refKey(ref)} is not in a watched namespace (${this.settings.namespaces.join(', ')})`);
    }
  }

  /** Reads the Deployment live, keeps it as the snapshot, and checks it opted in. */
  async enabledDeployment(ref: FunctionRef): Promise<DeploymentLike> {
    this.watched(ref);
    let deployment: DeploymentLike;
    try {
      deployment = await this.settings.api.getDeployment(ref.namespace, ref.name);
    } catch (err) {
      this.snapshots.forget(ref);
      throw err;
    }
    this.snapshots.record(ref, deployment);
    return this.enabled(ref, deployment);
  }

  /** `deployment` when it opted in, else FUNCTION_NOT_ENABLED. */
  enabled(ref: FunctionRef, deployment: DeploymentLike): DeploymentLike {
    this.watched(ref);
    if (!isOptedIn(deployment.metadata?.labels ?? {})) {
      throw new AppError('FUNCTION_NOT_ENABLED', `${refKey(ref)} has neither ${FAAS_FUNCTION_LABEL} nor ${ENABLED_LABEL}=true`);
    }
    return deployment;
  }

  /**
   * Writes `target(current)` to the scale subresource with the Deployment's resourceVersion
   * as precondition (the scale's resourceVersion is its Deployment's), starting from the
   * snapshot of this cycle's read when there is one, else a live read; on 409 re-read live
   * and retry, at most `conflictRetries` attempts. The opt-in label is checked on the
   * Deployment at the same resourceVersion as the write, so a Deployment that opts out
   * meanwhile is never touched. A snapshot that already shows the target is confirmed live
   * before nothing is written.
   */
  async write(ref: FunctionRef, target: (current: number) => number): Promise<{ from: number; to: number }> {
    let lastConflict: AppError | undefined;
    let snapshot = this.snapshots.get(ref);
    for (let attempt = 1; attempt <= this.settings.conflictRetries; attempt += 1) {
      const deployment = snapshot === undefined ? await this.enabledDeployment(ref) : this.enabled(ref, snapshot);
      const fromSnapshot = snapshot !== undefined;
      snapshot = undefined;
      const from = factsOf(deployment).desired;
      const to = target(from);
      if (from === to) {
        if (!fromSnapshot) return { from, to };
        attempt -= 1;
        continue;
      }
      try {
        await this.replace(ref, deployment, to);
        // The change cycle logs the one `scale applied` line (with reason and source); this is the write's detail.
        this.logger.debug('scale written', { function: refKey(ref), from, to, attempt });
        return { from, to };
      } catch (err) {
        if (!isAppError(err, 'PROVIDER_CONFLICT')) throw err;
        this.snapshots.forget(ref);
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

  /** One write of the scale at the Deployment's resourceVersion; its answer becomes the snapshot. */
  private async replace(ref: FunctionRef, deployment: DeploymentLike, to: number): Promise<void> {
    const version = deployment.metadata?.resourceVersion ?? '';
    const scale = await this.settings.api.replaceScale(ref.namespace, ref.name, version, to);
    // The write's answer is the Deployment at its new version: same labels, the new count.
    this.snapshots.record(ref, {
      ...deployment,
      metadata: { ...deployment.metadata, resourceVersion: scale.metadata?.resourceVersion ?? '' },
      spec: { ...deployment.spec, replicas: to },
    });
  }
}
