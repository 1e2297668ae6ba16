import { AppError } from '../errors.js';
import { EMPTY_ALERT_STATE, type AlertState } from '../policy/alert-step.js';
import { refKey, type FunctionRef } from '../providers/types.js';

/** A stored alert state with an opaque version for optimistic concurrency. */
export interface VersionedAlertState {
  readonly state: AlertState;
  /** Opaque; null when nothing is stored yet. */
  readonly version: string | null;
}

/**
 * Where per-function alert state lives. `save` must fail with PROVIDER_CONFLICT when the
 * stored version is no longer `expectedVersion`, so two scaler replicas never both step.
 */
export interface AlertStateStore {
  load(ref: FunctionRef): Promise<VersionedAlertState>;
  save(ref: FunctionRef, state: AlertState, expectedVersion: string | null): Promise<void>;
  /** Functions that have a pending scale-down (for the scale-down timer after a restart). */
  listPending(): Promise<Array<{ ref: FunctionRef; scaleDownAt: number }>>;
}

/** In-process store for one scaler instance (the local provider). */
export class MemoryAlertStateStore implements AlertStateStore {
  private readonly entries = new Map<string, { ref: FunctionRef; state: AlertState; version: number }>();

  async load(ref: FunctionRef): Promise<VersionedAlertState> {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined) return { state: EMPTY_ALERT_STATE, version: null };
    return { state: entry.state, version: String(entry.version) };
  }

  async save(ref: FunctionRef, state: AlertState, expectedVersion: string | null): Promise<void> {
    const key = refKey(ref);
    const entry = this.entries.get(key);
    const current = entry === undefined ? null : String(entry.version);
    if (current !== expectedVersion) {
      throw new AppError('PROVIDER_CONFLICT', `alert state of ${key} changed concurrently`);
    }
    this.entries.set(key, { ref, state, version: (entry?.version ?? 0) + 1 });
  }

  async listPending(): Promise<Array<{ ref: FunctionRef; scaleDownAt: number }>> {
    const pending: Array<{ ref: FunctionRef; scaleDownAt: number }> = [];
    for (const { ref, state } of this.entries.values()) {
      if (state.scaleDownAt !== null) pending.push({ ref, scaleDownAt: state.scaleDownAt });
    }
    return pending;
  }
}
