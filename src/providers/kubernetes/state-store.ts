import { createHash } from 'node:crypto';
import type { Logger } from 'winston';
import { z } from 'zod';
import { AppError, isAppError } from '../../errors.js';
import { EMPTY_ALERT_STATE, type AlertState, type AlertStateStore, type VersionedAlertState } from '../../policy/alert-state.js';
import type { DeploymentLike, KubeApi } from './client.js';
import { isOptedIn } from './opt-in.js';
import { DeploymentSnapshots } from './snapshots.js';
import { refKey, type FunctionRef } from '../types.js';

/** The Deployment annotation that holds a function's alert state as JSON. */
export const STATE_ANNOTATION = 'alert-scaler.io/state';

/** The stored shape (src/policy/alert-state.ts); holds and values are absent in states stored before them, and when empty. */
const alertStateSchema = z.object({
  firing: z.record(z.string(), z.number()),
  scaleDownAt: z.number().nullable(),
  steps: z.record(z.string(), z.number()),
  holds: z.record(z.string(), z.object({ name: z.string(), seen: z.number() })).optional(),
  values: z.record(z.string(), z.object({ value: z.number().nonnegative(), seen: z.number() })).optional(),
});

/** The parsed state without `holds: undefined` (exactOptionalPropertyTypes): absent stays absent. */
function withoutUndefined(parsed: z.output<typeof alertStateSchema>): AlertState {
  const { holds, values, ...rest } = parsed;
  return { ...rest, ...(holds === undefined ? {} : { holds }), ...(values === undefined ? {} : { values }) };
}

/** Short digest of the stored annotation text. */
function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * The version is `<Deployment resourceVersion>/<digest of the annotation>`. The write is a
 * metadata-only merge patch whose `metadata.resourceVersion` is a precondition, so two
 * writers can never both succeed from the same read. Changes to the Deployment that leave
 * the state as it was loaded (a scale, a status update by the controller) are not conflicts:
 * save re-reads and retries with the new resourceVersion, at most `attempts` times.
 */
function version(resourceVersion: string, text: string): string {
  return `${resourceVersion}/${digest(text)}`;
}

export interface KubernetesAlertStateStoreOptions {
  readonly api: KubeApi;
  /** Namespaces the scaler manages; a ref elsewhere is FUNCTION_UNKNOWN. */
  readonly namespaces: readonly string[];
  readonly logger: Logger;
  /** Writes attempted when only unrelated fields of the Deployment changed; default 5. */
  readonly attempts?: number;
  /**
   * Shared with the provider: load reads the Deployment the cycle's read already got, save
   * writes from it and keeps its answer for the scale write. A private one when absent.
   */
  readonly snapshots?: DeploymentSnapshots;
}

/**
 * AlertStateStore in the annotation `alert-scaler.io/state` of each function's Deployment.
 * Only opted-in Deployments are read or written, and only their metadata: never the spec.
 * Load and the first save attempt start from the Deployment snapshot (see DeploymentSnapshots)
 * when there is one: the save's resourceVersion precondition refuses a stale one (409), and
 * the retry reads live.
 */
export class KubernetesAlertStateStore implements AlertStateStore {
  private readonly logger: Logger;
  private readonly attempts: number;
  private readonly snapshots: DeploymentSnapshots;

  constructor(private readonly options: KubernetesAlertStateStoreOptions) {
    this.logger = options.logger.child({ component: 'kubernetes-state-store' });
    this.attempts = options.attempts ?? 5;
    this.snapshots = options.snapshots ?? new DeploymentSnapshots();
  }

  async load(ref: FunctionRef): Promise<VersionedAlertState> {
    const deployment = await this.enabledDeployment(ref, true);
    const text = deployment.metadata?.annotations?.[STATE_ANNOTATION];
    if (text === undefined) return { state: EMPTY_ALERT_STATE, version: null };
    return { state: this.parse(ref, text), version: version(deployment.metadata?.resourceVersion ?? '', text) };
  }

  async save(ref: FunctionRef, state: AlertState, expectedVersion: string | null): Promise<void> {
    const expectedDigest = expectedVersion === null ? null : (expectedVersion.split('/')[1] ?? '');
    const text = JSON.stringify(state);
    for (let attempt = 1; attempt <= this.attempts; attempt += 1) {
      const deployment = await this.enabledDeployment(ref, attempt === 1);
      const stored = deployment.metadata?.annotations?.[STATE_ANNOTATION];
      if ((stored === undefined ? null : digest(stored)) !== expectedDigest) {
        throw new AppError('PROVIDER_CONFLICT', `alert state of ${refKey(ref)} changed concurrently`);
      }
      try {
        const written = await this.options.api.patchDeploymentMetadata(ref.namespace, ref.name, {
          resourceVersion: deployment.metadata?.resourceVersion ?? '',
          annotations: { [STATE_ANNOTATION]: text },
        });
        this.snapshots.record(ref, written);
        return;
      } catch (err) {
        this.snapshots.forget(ref);
        // 409: the Deployment moved on since the read; re-read and compare the state again.
        if (!isAppError(err, 'PROVIDER_CONFLICT')) throw err;
      }
    }
    throw new AppError('PROVIDER_CONFLICT', `${refKey(ref)} kept changing; alert state not saved after ${this.attempts} attempts`);
  }

  async listPending(): Promise<Array<{ ref: FunctionRef; scaleDownAt: number }>> {
    const pending: Array<{ ref: FunctionRef; scaleDownAt: number }> = [];
    for (const namespace of this.options.namespaces) {
      const { items } = await this.options.api.listDeployments(namespace);
      for (const d of items) {
        const text = d.metadata?.annotations?.[STATE_ANNOTATION];
        if (text === undefined || !isOptedIn(d.metadata?.labels ?? {})) continue;
        const ref = { name: d.metadata?.name ?? '', namespace };
        const { scaleDownAt } = this.parse(ref, text);
        if (scaleDownAt !== null) pending.push({ ref, scaleDownAt });
      }
    }
    return pending;
  }

  /** The state a Deployment's annotations carry (a watch notification's facts); undefined when they carry none. */
  stateIn(ref: FunctionRef, annotations: Readonly<Record<string, string>>): AlertState | undefined {
    const text = annotations[STATE_ANNOTATION];
    return text === undefined ? undefined : this.parse(ref, text);
  }

  /** A corrupt annotation reads as empty state (logged); the next save replaces it. */
  private parse(ref: FunctionRef, text: string): AlertState {
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    const result = alertStateSchema.safeParse(json);
    if (result.success) return withoutUndefined(result.data);
    this.logger.warn('alert state unreadable', { function: refKey(ref), annotation: STATE_ANNOTATION });
    return EMPTY_ALERT_STATE;
  }

  /** The Deployment, opted in: the snapshot when `reuse` and there is one, else read live (and kept). */
  private async enabledDeployment(ref: FunctionRef, reuse: boolean): Promise<DeploymentLike> {
    if (!this.options.namespaces.includes(ref.namespace)) {
      throw new AppError('FUNCTION_UNKNOWN', `${refKey(ref)} is not in a watched namespace`);
    }
    let deployment = reuse ? this.snapshots.get(ref) : undefined;
    if (deployment === undefined) {
      try {
        deployment = await this.options.api.getDeployment(ref.namespace, ref.name);
      } catch (err) {
        this.snapshots.forget(ref);
        throw err;
      }
      this.snapshots.record(ref, deployment);
    }
    if (!isOptedIn(deployment.metadata?.labels ?? {})) {
      throw new AppError('FUNCTION_NOT_ENABLED', `${refKey(ref)} has not opted in to alert-scaler`);
    }
    return deployment;
  }
}
