import { AppError } from '../errors.js';
import type { KeyedMutex } from '../core/keyed-mutex.js';
import type { Logger } from '../log/logger.js';
import { refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import type { ChangeRecorder } from './change-record.js';
import type { Dispatcher } from './dispatcher.js';
import { isLeaving, type DrainOutcome, type Drainer } from './drain.js';
import type { EventSource } from './events.js';
import type { ReplicaView } from './replicas.js';

/**
 * The count a decision asks for, given the state it was decided on: with `remove`, the
 * count falls by the chosen replicas still in service (a request may have taken one
 * meanwhile), which are returned as `chosen`: the replicas the scale-down then removes.
 */
export function targetOf(
  state: { readonly desired: number; readonly replicas: readonly ReplicaView[] },
  decision: { readonly replicas: number; readonly remove?: readonly string[] },
): { to: number; chosen: readonly string[] | undefined } {
  let chosen: string[] | undefined;
  if (decision.remove !== undefined) {
    const idle = new Set(state.replicas.filter((r) => !isLeaving(r) && r.phase === 'ready' && r.inFlight === 0).map((r) => r.id));
    chosen = decision.remove.filter((id) => idle.has(id));
  }
  return { to: chosen === undefined ? Math.max(0, decision.replicas) : Math.max(0, state.desired - chosen.length), chosen };
}

/** What a scale-down works with; `mutex` is the change cycle's, so the removal is serialized with changes. */
export interface ScaleDownOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Dispatcher;
  readonly drainer: Drainer;
  readonly mutex: KeyedMutex;
  readonly recorder: ChangeRecorder;
  readonly logger: Logger;
}

/** One applied scale-down: its function, source, counts and the replicas chosen to go. */
export interface ScaleDownOrder {
  readonly ref: FunctionRef;
  readonly source: EventSource;
  readonly from: number;
  readonly to: number;
  readonly victims: readonly string[];
  /** Throws (NOT_OWNER) when the removal may no longer be made: checked after the drain, right before it. */
  readonly fence?: () => void;
}

/**
 * The `down` path of the change cycle: drain the chosen replicas (outside the lock, so a
 * scale-up can take them back), then remove exactly those under the lock, each step an event.
 */
export class ScaleDown {
  constructor(private readonly options: ScaleDownOptions) {}

  /**
   * Drains and removes `victims` (`from - to` of them, or fewer). Replicas the provider counts but does not list
   * yet (still being created) have nothing to drain: once the drained ones are removed, the
   * count is lowered by that many more. A failed removal puts the drained replicas back in
   * service and calls `onFailed`. Resolves (never rejects) when done.
   */
  run(order: ScaleDownOrder, onFailed: (err: unknown) => Promise<void>): Promise<void> {
    const { drainer, recorder } = this.options;
    const { ref, source, from, to, victims } = order;
    for (const id of victims) recorder.record(ref, source, 'drain_start', from, to, 'scale-down', {}, id);
    return drainer.drain(ref, victims).then(
      (outcomes) =>
        // Removal and its failure handling under the lock: the next change sees the restored state.
        this.options.mutex.run(refKey(ref), () => this.remove(order, outcomes, onFailed)),
      (err: unknown) => this.failed(order, err, victims, onFailed),
    );
  }

  private async remove(order: ScaleDownOrder, outcomes: ReadonlyMap<string, DrainOutcome>, onFailed: (err: unknown) => Promise<void>): Promise<void> {
    const { provider, dispatcher } = this.options;
    const { ref, source, from, to, victims } = order;
    const unlisted = from - to - victims.length;
    const remove = [...outcomes].filter(([, o]) => o === 'drained' || o === 'drain-timeout').map(([id]) => id);
    const write = order.fence === undefined ? undefined : { fence: order.fence };
    try {
      if (remove.length > 0 || unlisted > 0) order.fence?.();
      if (remove.length > 0) {
        await provider.removeReplicas(ref, remove, write);
        // The provider's count no longer includes them and its phase keeps them out of
        // routing: the engine's flag would count them as leaving a second time.
        dispatcher.setDraining(ref, remove, false);
      }
      if (unlisted > 0) {
        const { desired } = await provider.getReplicas(ref);
        order.fence?.();
        await provider.setReplicas(ref, Math.max(0, desired - unlisted), write);
      }
    } catch (err) {
      await this.failed(order, err, remove, onFailed);
      return;
    }
    for (const id of remove) this.options.recorder.record(ref, source, 'scale_down_complete', from, to, outcomes.get(id) ?? 'drained', {}, id);
  }

  /** The drain or removal failed: the replicas serve again, the failure is logged and recorded, `onFailed` runs. */
  private async failed(order: ScaleDownOrder, err: unknown, removing: readonly string[], onFailed: (err: unknown) => Promise<void>): Promise<void> {
    const { dispatcher, recorder, logger } = this.options;
    const { ref, source, from, to } = order;
    dispatcher.setDraining(ref, removing, false);
    logger.error('drain failed', { function: recorder.label(ref), error: err instanceof Error ? err.message : String(err) });
    recorder.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', {});
    await onFailed(err).catch((hookErr: unknown) => {
      logger.error('scale-down failure not handled', { function: recorder.label(ref), error: hookErr instanceof Error ? hookErr.message : String(hookErr) });
    });
  }
}
