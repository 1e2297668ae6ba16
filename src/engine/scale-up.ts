import { AppError } from '../errors.js';
import type { FunctionRef, ReplicaProvider } from '../providers/types.js';
import type { ChangeRecorder } from './change-record.js';
import type { Drainer } from './drain.js';
import type { EventSource } from './events.js';
import type { Lifecycle } from './lifecycle.js';

/** What a scale-up works with. */
export interface ScaleUpOptions {
  readonly provider: ReplicaProvider;
  readonly drainer: Drainer;
  readonly recorder: ChangeRecorder;
  readonly lifecycle: Lifecycle;
}

/** One applied scale-up: its function, source, counts, the decision's reason and inputs. */
export interface ScaleUpOrder {
  readonly ref: FunctionRef;
  readonly source: EventSource;
  readonly from: number;
  readonly to: number;
  /** The provider's desired count as read (draining replicas included). */
  readonly providerDesired: number;
  readonly reason: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  /** Throws (NOT_OWNER) when the write may no longer be made: checked after the last await, right before it. */
  readonly fence?: () => void;
}

/**
 * The `up` path of the change cycle: take back draining replicas first, then raise the
 * provider's count. `scale_up` is recorded once the count is raised, so a recorded
 * `scale_up` was applied; the replicas' lifecycle events wait meanwhile, so they follow it.
 */
export class ScaleUp {
  constructor(private readonly options: ScaleUpOptions) {}

  /**
   * Raises the count; on failure records `scale_failed`, awaits `onFailed`, and rethrows.
   * With `retryable`, a PROVIDER_CONFLICT (the write met a change it cannot merge: the
   * stored alert state moved) is rethrown as it is, unrecorded, for the cycle to decide again.
   */
  async run(order: ScaleUpOrder, key: string, onFailed: (err: unknown) => Promise<void> | undefined, retryable = false): Promise<void> {
    const { recorder, lifecycle } = this.options;
    const { ref, source, from, to, inputs, reason } = order;
    lifecycle.raising(key, true);
    try {
      await this.raise(ref, order.providerDesired, to - from, order.fence);
    } catch (err) {
      if (retryable && err instanceof AppError && err.code === 'PROVIDER_CONFLICT') throw err;
      recorder.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', { ...inputs, decided: reason });
      lifecycle.raising(key, false);
      lifecycle.catchUp(ref);
      await onFailed(err);
      throw err;
    } finally {
      lifecycle.raising(key, false);
    }
    recorder.record(ref, source, 'scale_up', from, to, reason, inputs);
    lifecycle.catchUp(ref);
  }

  /** Draining replicas still count in the provider's desired, so taking one back needs no new one. */
  private async raise(ref: FunctionRef, providerDesired: number, more: number, fence: (() => void) | undefined): Promise<void> {
    fence?.();
    const takenBack = this.options.drainer.takeBack(ref, more).length;
    const target = providerDesired + (more - takenBack);
    if (target !== providerDesired) await this.options.provider.setReplicas(ref, target, fence === undefined ? undefined : { fence });
  }
}
