import type { Logger } from 'winston';
import { z } from 'zod';
import { isPlain, recordOf } from '../../core/plain-json.js';
import { AppError } from '../../errors.js';
import { EMPTY_ALERT_STATE, type AlertState, type AlertStateStore, type VersionedAlertState } from '../../policy/alert-state.js';
import type { KubeApi } from './client.js';
import { DeploymentWrites, digestOf } from './deployment-writes.js';
import { STATE_ANNOTATION, isOptedIn } from './opt-in.js';
import { TextMemo } from './memo.js';
import { DeploymentSnapshots } from './snapshots.js';
import { refKey, type FunctionRef } from '../types.js';

export { STATE_ANNOTATION } from './opt-in.js';

/** The stored shape (src/policy/alert-state.ts); holds and values are absent in states stored before them, and when empty. */
export const alertStateSchema = z.object({
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

/** Parsed states kept (TextMemo): the texts of the functions alerts are moving at once. */
const PARSED_STATES = 1024;

type NumberOf = (v: unknown) => number | undefined;

/** A number zod's z.number() takes (JSON has no other). */
const finite: NumberOf = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
/** A number that a JSON round trip gives back as it is (-0 comes back 0). */
const roundTrips: NumberOf = (v) => (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0) ? v : undefined);

/**
 * What alertStateSchema and withoutUndefined make of a state they accept, without zod (the
 * state of every step is parsed once, from the watch or a load); undefined when in doubt,
 * and zod decides. `num` reads each number.
 */
function plainState(json: unknown, num: NumberOf = finite): AlertState | undefined {
  if (!isPlain(json)) return undefined;
  const hold = (v: unknown): { name: string; seen: number } | undefined => {
    if (!isPlain(v) || typeof v['name'] !== 'string') return undefined;
    const seen = num(v['seen']);
    return seen === undefined ? undefined : { name: v['name'], seen };
  };
  const queueValue = (v: unknown): { value: number; seen: number } | undefined => {
    if (!isPlain(v)) return undefined;
    const value = num(v['value']);
    const seen = num(v['seen']);
    return value === undefined || value < 0 || seen === undefined ? undefined : { value, seen };
  };
  const firing = recordOf(json['firing'], num);
  const steps = recordOf(json['steps'], num);
  const scaleDownAt = json['scaleDownAt'] === null ? null : num(json['scaleDownAt']);
  if (firing === undefined || steps === undefined || scaleDownAt === undefined) return undefined;
  const holds = json['holds'] === undefined ? undefined : recordOf(json['holds'], hold);
  const values = json['values'] === undefined ? undefined : recordOf(json['values'], queueValue);
  if ((holds === undefined && json['holds'] !== undefined) || (values === undefined && json['values'] !== undefined)) return undefined;
  return { firing, scaleDownAt, steps, ...(holds === undefined ? {} : { holds }), ...(values === undefined ? {} : { values }) };
}

/**
 * What parseState(JSON.stringify(state)) gives, read from the state itself (no JSON.parse):
 * for a state of plain objects and numbers a JSON round trip keeps as they are; undefined
 * otherwise (then the text is parsed when it is read).
 */
export function stateAsStored(state: AlertState): AlertState | undefined {
  return plainState(state, roundTrips);
}

/** The state an annotation's text holds; undefined when it is not JSON of the stored shape. */
export function parseState(text: string): AlertState | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  const plain = plainState(json);
  if (plain !== undefined) return plain;
  const result = alertStateSchema.safeParse(json);
  return result.success ? withoutUndefined(result.data) : undefined;
}

/**
 * The version is `<Deployment resourceVersion>/<digest of the annotation>`; only the digest
 * decides a conflict: changes to the Deployment that leave the state as it was loaded (a
 * scale, a status update by the controller) are not conflicts.
 */
function version(resourceVersion: string, text: string): string {
  return `${resourceVersion}/${digestOf(text) ?? ''}`;
}

export interface KubernetesAlertStateStoreOptions {
  readonly api: KubeApi;
  /** Namespaces the scaler manages; a ref elsewhere is FUNCTION_UNKNOWN. */
  readonly namespaces: readonly string[];
  readonly logger: Logger;
  /** Writes attempted when only unrelated fields of the Deployment changed; default 5 (standalone only). */
  readonly attempts?: number;
  /**
   * The provider's Deployment writer (KubernetesProvider.writes): load reads the watch cache,
   * and save stages the state to ride along with the cycle's count write (one PATCH), or to
   * go alone after its linger. Absent (standalone): reads are live and each save is written
   * before it resolves.
   */
  readonly writes?: DeploymentWrites;
}

/**
 * AlertStateStore in the annotation `alert-scaler.io/state` of each function's Deployment.
 * Only opted-in Deployments are read or written, and only their metadata (plus, merged by
 * DeploymentWrites, the count the same cycle sets). A save checks the version it was given
 * against the newest known state (staged, this process's last write, or the watch cache):
 * PROVIDER_CONFLICT when another writer changed it; the write itself carries the
 * resourceVersion precondition, so a change the cache has not seen yet is refused too.
 */
export class KubernetesAlertStateStore implements AlertStateStore {
  private readonly logger: Logger;
  private readonly writes: DeploymentWrites;
  /** Staged saves (with the provider's writer) resolve at once; standalone ones once written. */
  private readonly coalesce: boolean;
  /** Parsed states by annotation text (a state is read-only): a watch notification or a load of an unchanged state parses nothing. */
  private readonly parsed = new TextMemo<AlertState>(PARSED_STATES);

  constructor(private readonly options: KubernetesAlertStateStoreOptions) {
    this.logger = options.logger.child({ component: 'kubernetes-state-store' });
    this.coalesce = options.writes !== undefined;
    this.writes =
      options.writes ??
      new DeploymentWrites({
        api: options.api,
        namespaces: options.namespaces,
        snapshots: new DeploymentSnapshots(),
        view: { cached: () => undefined, synced: () => false },
        logger: this.logger,
        attempts: options.attempts ?? 5,
      });
  }

  async load(ref: FunctionRef): Promise<VersionedAlertState> {
    const deployment = await this.writes.read(ref);
    const text = this.writes.pendingState(ref) ?? deployment.alertState;
    if (text === undefined) return { state: EMPTY_ALERT_STATE, version: null };
    return { state: this.parse(ref, text), version: version(deployment.resourceVersion, text) };
  }

  async save(ref: FunctionRef, state: AlertState, expectedVersion: string | null): Promise<void> {
    const expectedDigest = expectedVersion === null ? null : (expectedVersion.split('/')[1] ?? '');
    const deployment = await this.writes.read(ref);
    const current = this.writes.pendingState(ref) ?? deployment.alertState;
    if (digestOf(current) !== expectedDigest) throw new AppError('PROVIDER_CONFLICT', `alert state of ${refKey(ref)} changed concurrently`);
    const text = JSON.stringify(state);
    if (text === current) return;
    // The watch brings this text back (and stateIn reads it staged): what it parses to is known now.
    const stored = stateAsStored(state);
    if (stored !== undefined) this.parsed.get(text, () => ({ value: stored, keep: true }));
    const written = this.writes.stageState(ref, text, !this.coalesce);
    if (!this.coalesce) await written;
  }

  persisted(ref: FunctionRef): Promise<void> {
    return this.writes.persistState(ref);
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

  /**
   * The state stored for `ref` when a watch notification tells of it: the cached facts keep
   * the annotation apart from `annotations` (so a step does not re-parse the policy), hence
   * the writer's cache first; undefined when none is stored.
   */
  stateIn(ref: FunctionRef, annotations: Readonly<Record<string, string>>): AlertState | undefined {
    const text = this.options.writes?.storedState(ref) ?? annotations[STATE_ANNOTATION];
    return text === undefined ? undefined : this.parse(ref, text);
  }

  /** A corrupt annotation reads as empty state (logged each time it is read); the next save replaces it. */
  private parse(ref: FunctionRef, text: string): AlertState {
    return this.parsed.get(text, () => {
      const state = parseState(text);
      if (state === undefined) this.logger.warn('alert state unreadable', { function: refKey(ref), annotation: STATE_ANNOTATION });
      return state === undefined ? { value: EMPTY_ALERT_STATE, keep: false } : { value: state, keep: true };
    });
  }
}
