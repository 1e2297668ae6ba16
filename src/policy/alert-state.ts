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
  /**
   * Hold alerts (`scale_action="hold"`) firing for the function: fingerprint → its alert name
   * and the last time it was seen firing. Absent when none (and in states stored before holds
   * were). Written by whichever gateway got the notification; read by the one that decides.
   */
  readonly holds?: Readonly<Record<string, HoldEntry>>;
  /** Queue lengths that firing alerts report (annotation `value`): fingerprint → the value and when last seen. Absent when none. */
  readonly values?: Readonly<Record<string, ValueEntry>>;
}

/** One hold alert as stored: its alert name (at most ALERT_NAME_MAX_CHARS) and when it was last seen firing (epoch ms). */
export interface HoldEntry {
  readonly name: string;
  readonly seen: number;
}

/** One value alert as stored: the queue length it reports and when it was last seen firing (epoch ms). */
export interface ValueEntry {
  readonly value: number;
  readonly seen: number;
}

/** The holds and values of `state`, only those present: what a decision that rebuilds the state carries over unchanged. */
export function signalsOf(state: AlertState): Pick<AlertState, 'holds' | 'values'> {
  return { ...(state.holds === undefined ? {} : { holds: state.holds }), ...(state.values === undefined ? {} : { values: state.values }) };
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
  /**
   * Resolves once every state saved for `ref` so far is stored (a store that stages saves, to
   * send them with the function's next count write, sends a staged one now); rejects with its
   * write's error (PROVIDER_CONFLICT: another writer changed the state first). Absent: a
   * save resolves only once stored.
   */
  persisted?(ref: FunctionRef): Promise<void>;
  /** Functions that have a pending scale-down (for the scale-down timer after a restart). */
  listPending(): Promise<Array<{ ref: FunctionRef; scaleDownAt: number }>>;
  /**
   * The state as a provider's facts of the function carry it (the Kubernetes store: the
   * Deployment annotation in a watch notification), so the gateway that decides sees a change
   * written by another; undefined when the facts do not carry it (or this store keeps it elsewhere).
   */
  stateIn?(ref: FunctionRef, annotations: Readonly<Record<string, string>>): AlertState | undefined;
  /**
   * Calls `listener` after every state saved, by any writer (a store that sees every write:
   * the in-memory one, shared by the gateways of one process or test); returns the unsubscribe.
   */
  onSaved?(listener: (ref: FunctionRef, state: AlertState) => void): () => void;
}
