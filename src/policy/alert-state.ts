import type { FunctionRef } from '../core/ref.js';

/**
 * Per-function alert state. Plain JSON so it can be stored anywhere (memory, an annotation).
 * Times are epoch milliseconds. Plain data only: providers store it (src/providers/kubernetes/
 * state-store.ts), so this module holds no decision (the layout check lets providers import it).
 */
export interface AlertState {
  /** Alerts currently firing for the function: fingerprint → last time it was seen firing. */
  readonly firing: Readonly<Record<string, number>>;
  /** When the function returns to min; null when no scale-down is pending. */
  readonly scaleDownAt: number | null;
  /** Last step per alert occurrence (`fingerprint@startsAt`) → time of that step. */
  readonly steps: Readonly<Record<string, number>>;
}

/** The state of a function nothing was stored for: no alert firing, no scale-down pending. */
export const EMPTY_ALERT_STATE: AlertState = Object.freeze({ firing: {}, scaleDownAt: null, steps: {} });

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
