export { functionLabel, parseFunctionRef, refKey, type FunctionRef } from '../core/ref.js';
import type { FunctionRef } from '../core/ref.js';
export type { ReplicaPhase } from '../core/phase.js';
import type { ReplicaPhase } from '../core/phase.js';

/** Facts a provider reports about one function. */
export interface ReplicaState {
  /** Replicas the provider has been asked to run. */
  readonly desired: number;
  /** Replicas that currently pass their readiness check (and are not being removed). */
  readonly ready: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** One function as listed by a provider. */
export interface FunctionInfo extends ReplicaState {
  readonly ref: FunctionRef;
}

/** One replica as its provider knows it. The engine adds in-flight and request times. */
export interface ReplicaInfo {
  /** Stable for the replica's life: a pod name, `<fn>-<n>` for a local process. */
  readonly id: string;
  /** Where a request for this replica goes; null while it has no address yet. */
  readonly address: URL | null;
  readonly phase: ReplicaPhase;
  /** When the replica was created, epoch milliseconds. */
  readonly createdAt: number;
}

/**
 * What changed in a function's replica list since the provider's previous notification for
 * that function: replicas added or whose phase or address changed (their facts now), and
 * ids gone. Applying each notification's changes to the list read at `subscribe` time gives
 * `listReplicas` exactly, so a listener keeps its own table in O(changed replicas).
 */
export interface ReplicaChanges {
  readonly upserted: readonly ReplicaInfo[];
  readonly removed: readonly string[];
}

/**
 * Called whenever a function's desired or ready count or its replica list changes. `changes`
 * is optional: a provider that knows what changed passes it; without it, a listener that keeps
 * a replica table reads `listReplicas` again.
 */
export type ReplicaListener = (ref: FunctionRef, state: ReplicaState, changes?: ReplicaChanges) => void;

/**
 * How a replica ended without being asked to. `exited`: by itself, with an exit code;
 * `signal`: killed by a signal it was not sent by the gateway; `start-timeout`: killed for
 * not being ready within the start timeout; `spawn-failed`: its process could not be started.
 */
export type CrashReason = 'exited' | 'signal' | 'start-timeout' | 'spawn-failed';

/** One unexpected end of a replica. */
export interface ReplicaCrash {
  readonly replica: string;
  /** Exit code; null when it ended by a signal or never ran. */
  readonly code: number | null;
  /** The signal that ended it (`SIGSEGV`); null when it exited with a code. */
  readonly signal: string | null;
  readonly reason: CrashReason;
  /** When it ended, epoch milliseconds. */
  readonly at: number;
  /** Its last stderr lines, oldest first (bounded: a few lines, a few KiB; control characters replaced). */
  readonly stderr: readonly string[];
  /** One line naming the cause: `replica exited with code 127: sh: 1: exec: FN=x: not found`. */
  readonly message: string;
}

/** A function whose replicas keep crashing: each is started again after a growing delay (back-off). */
export interface CrashLoop {
  /** Crashes since one of the function's replicas last became ready (at least 1). */
  readonly crashes: number;
  readonly last: ReplicaCrash;
  /** When the next replica starts, epoch ms; null while one is starting again, or when none is wanted. */
  readonly nextRetryAt: number | null;
}

/** Called on every crash of a replica, with the function's crash loop as it is after it. */
export type CrashListener = (ref: FunctionRef, crash: ReplicaCrash, loop: CrashLoop) => void;

/** How a change of the replica count is written. */
export interface ScaleWrite {
  /**
   * Called right before each write the change sends (every attempt, after every wait, queue
   * and retry): throws (NOT_OWNER) to refuse it, and nothing more of the change is written.
   * The fence of a decision only the function's owner makes.
   */
  readonly fence?: () => void;
}

/**
 * The one provider interface. A provider reports facts and does one thing: set the replica
 * count. Policy (min, max, steps, delays) never travels inside a provider.
 *
 * Errors are AppErrors: FUNCTION_UNKNOWN, FUNCTION_NOT_ENABLED, PROVIDER_UNAVAILABLE,
 * PROVIDER_FORBIDDEN, PROVIDER_CONFLICT; the vendor error is kept as `cause`.
 */
export interface ReplicaProvider {
  /** Provider name, used in logs and metrics (`local`, `kubernetes`). */
  readonly kind: string;
  getReplicas(ref: FunctionRef): Promise<ReplicaState>;
  /** Sets the desired replica count; resolves once the provider has accepted it (not when ready). */
  setReplicas(ref: FunctionRef, replicas: number, write?: ScaleWrite): Promise<void>;
  listFunctions(): Promise<FunctionInfo[]>;
  /**
   * The function's replicas, from the provider's own cache (no I/O): every replica that
   * exists, whatever its phase; empty for an unknown function. Listeners are called on every
   * change of this list (a phase, an address, a replica added or gone). The engine's
   * dispatcher routes requests to these addresses; a provider never picks one itself.
   */
  listReplicas(ref: FunctionRef): readonly ReplicaInfo[];
  /**
   * Removes exactly these replicas (the engine drained them first) and lowers the desired
   * count by the number removed. Ids that no longer exist are ignored.
   */
  removeReplicas(ref: FunctionRef, ids: readonly string[], write?: ScaleWrite): Promise<void>;
  /** Subscribes to desired/ready/replica-list changes; returns the unsubscribe function. */
  subscribe(listener: ReplicaListener): () => void;
  /**
   * The function's crash loop while its replicas keep crashing (until one becomes ready);
   * null otherwise. From the provider's own state (no I/O). Optional: a provider without it
   * reports no crash loop.
   */
  crashLoop?(ref: FunctionRef): CrashLoop | null;
  /**
   * The function's most recent replica crash, kept after one became ready again (the last
   * error an operator looks for); null before its first. A provider without crash reports
   * has none.
   */
  lastCrash?(ref: FunctionRef): ReplicaCrash | null;
  /** Subscribes to replica crashes (a provider without crash reports never calls it); returns the unsubscribe function. */
  onCrash?(listener: CrashListener): () => void;
  /**
   * Calls wait for the function's first ready replica (a wake, or a scale-up with none ready
   * yet): find its starting replicas ready as fast as it can until one is. Optional: a
   * provider that learns readiness from a watch has nothing to hurry.
   */
  hurry?(ref: FunctionRef): void;
  /** Starts background work (processes, watches). */
  start(): Promise<void>;
  /** Stops background work; the local provider also stops its replicas. */
  close(): Promise<void>;
}
