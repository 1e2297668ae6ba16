import type { TimerHandle } from '../core/clock.js';
import { AppError } from '../errors.js';
import type { UpstreamProtocol } from '../policy/labels.js';
import type { FunctionRef } from '../providers/types.js';
import type { EngineReplica } from './replicas.js';

/** Why a request waits: no ready replica at all, or every ready replica is at its limit. */
export type QueueReason = 'no_replica' | 'busy';

/** One request's hold on one replica. */
export interface Slot {
  readonly replicaId: string;
  readonly url: URL;
  /** Time spent in the queue, ms; null when the slot was free at once. */
  readonly waitedMs: number | null;
  /** Clock ms when the request timeout passes (a retry of the call keeps it: `acquire`'s `deadlineAt`). */
  readonly deadlineAt: number;
  /** What the request waited for when it joined the queue; null when it did not wait. */
  readonly waitedFor: QueueReason | null;
  /**
   * Aborts when the function's request timeout passes (reason: AppError REQUEST_TIMEOUT);
   * the slot is already released then. The caller aborts its upstream call and answers 504.
   * Made on first use: a caller that needs one callback uses `onTimeout` instead.
   */
  readonly signal: AbortSignal;
  /**
   * Sets the one callback run when the request timeout passes (as `signal` aborts, with the
   * same reason); null clears it. Costs no AbortController: the proxy's hot path uses this.
   */
  onTimeout(listener: ((reason: AppError) => void) | null): void;
  /**
   * Ends the request timeout: the slot is held until `release`, however long that is (a
   * WebSocket once its replica answered 101: it counts against the replica's limit until it
   * closes). The timer stays set but does nothing when it fires.
   */
  hold(): void;
  /** Gives the slot back; only the first call counts. */
  release(): void;
  /** True when the call goes to another gateway (src/engine/dispatch/forward.ts), not to a replica: never retried there. */
  readonly forwarded?: boolean;
  /** How the replica is spoken to (label `com.openfaas.protocol`): `h2c`, or HTTP/1.1 when absent. */
  readonly protocol?: UpstreamProtocol | undefined;
}

/**
 * The request timeout every slot has: the AbortSignal (made only when asked for; one asked
 * for after the timeout starts aborted) and the one callback. A subclass frees itself in
 * `release` and calls `timedOut` when the timeout passes.
 */
export abstract class TimedSlot {
  private controller: AbortController | null = null;
  private listener: ((reason: AppError) => void) | null = null;
  /** Set when the request timeout passed; a signal asked for later starts aborted. */
  private expired: AppError | null = null;
  /** Set by `hold`: the request timeout no longer applies. */
  protected held = false;

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.expired !== null) this.controller.abort(this.expired);
    }
    return this.controller.signal;
  }

  onTimeout(listener: ((reason: AppError) => void) | null): void {
    this.listener = listener;
  }

  hold(): void {
    this.held = true;
  }

  /** Tells the holder the request timeout of the call to `name` passed (the slot is released first by the caller). */
  protected timedOut(name: string, timeoutMs: number): void {
    const reason = new AppError('REQUEST_TIMEOUT', `function ${name} did not answer within ${timeoutMs} ms`, { details: { requestTimeoutMs: timeoutMs } });
    this.expired = reason;
    this.controller?.abort(reason);
    this.listener?.(reason);
  }
}

/**
 * A granted slot: one object per request, no closures but its timer's. `free` is the
 * dispatcher's (one function for all slots); the AbortController is made only when asked for.
 */
export class GrantedSlot<E extends { readonly ref: FunctionRef } = { readonly ref: FunctionRef }> extends TimedSlot implements Slot {
  readonly replicaId: string;
  readonly url: URL;
  timer: TimerHandle | undefined;
  deadlineAt = 0;
  protocol: UpstreamProtocol | undefined = undefined;
  private released = false;

  constructor(
    readonly entry: E,
    readonly replica: EngineReplica,
    readonly waitedMs: number | null,
    readonly waitedFor: QueueReason | null,
    private readonly free: (slot: GrantedSlot<E>) => void,
  ) {
    super();
    this.replicaId = replica.id;
    // A usable replica always has an address (see Dispatcher.usable in dispatcher.ts).
    this.url = replica.address ?? new URL('http://invalid.invalid');
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.free(this);
  }

  /** The request timeout passed: free the slot, then tell the holder (nothing once held). */
  expire(timeoutMs: number): void {
    if (this.held) return;
    this.release();
    this.timedOut(this.entry.ref.name, timeoutMs);
  }
}
