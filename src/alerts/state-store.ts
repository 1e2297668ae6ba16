import { AppError } from '../errors.js';
import { refKey, type FunctionRef } from '../core/ref.js';
import { EMPTY_ALERT_STATE, type AlertState, type AlertStateStore, type VersionedAlertState } from '../policy/alert-state.js';

export type { AlertStateStore, VersionedAlertState } from '../policy/alert-state.js';

/** In-process store (the local provider, the simulator; tests share one between gateways). */
export class MemoryAlertStateStore implements AlertStateStore {
  private readonly entries = new Map<string, { ref: FunctionRef; state: AlertState; version: number }>();
  private readonly listeners = new Set<(ref: FunctionRef, state: AlertState) => void>();

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
    for (const listener of [...this.listeners]) listener(ref, state);
  }

  onSaved(listener: (ref: FunctionRef, state: AlertState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async listPending(): Promise<Array<{ ref: FunctionRef; scaleDownAt: number }>> {
    const pending: Array<{ ref: FunctionRef; scaleDownAt: number }> = [];
    for (const { ref, state } of this.entries.values()) {
      if (state.scaleDownAt !== null) pending.push({ ref, scaleDownAt: state.scaleDownAt });
    }
    return pending;
  }
}
