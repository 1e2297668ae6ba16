import type { Clock } from '../core/clock.js';
import type { FunctionRef } from '../core/ref.js';
import type { TimerHeap } from '../core/timers.js';
import type { ChangeHooks, Changer, Decide, Decision } from '../engine/changer.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { decideScaleDown, type AlertBatchDecision, type AlertDecision, type AlertState, type AlertTiming } from '../policy/alert-step.js';
import { liveHolds } from '../policy/alert-signals.js';
import { refKey } from '../providers/types.js';
import { problemsOf } from './outcome.js';
import type { AlertStateStore, VersionedAlertState } from './state-store.js';

const MAX_CONFLICT_ATTEMPTS = 5;
/** Wait before a failed scale-down is tried again, ms. */
const SCALE_DOWN_RETRY_MS = 5_000;
/**
 * Wait before a held scale-down is looked at again, ms: the hold may be released at another
 * gateway (its resolve is written to the stored state; a provider that reports the state
 * change re-arms sooner, see `follow`).
 */
export const HELD_RECHECK_MS = 5_000;

/** An alert decision as the change cycle records it: with what it looked at. */
export type Recorded<D extends AlertDecision | AlertBatchDecision> = D & Decision;

/** What the alert state's cycle needs. */
export interface AlertStateCycleOptions {
  /** The engine's change cycle: every alert change goes through it (source `alert`). */
  readonly changer: Changer;
  /** The engine's clock. */
  readonly clock: Clock;
  /** The scalers' timer heap: each function's pending scale-down is one due entry on it. */
  readonly timers: TimerHeap;
  readonly store: AlertStateStore;
  readonly logger: Logger;
  readonly timing: AlertTiming;
  /** Called with each scale-down a due time starts (the simulator follows them); none when absent. */
  readonly track?: (work: Promise<unknown>) => void;
  /**
   * Whether this gateway decides for the function (its owner); always when absent. Only the
   * owner arms and runs a pending scale-down; another gateway that gets the resolve only
   * stores `scaleDownAt`, and the owner arms it from the store.
   */
  readonly owns?: (ref: FunctionRef) => boolean;
}

/**
 * The alert state's part of the change cycle (the `rps` kind's memory in the store) and the
 * pending scale-downs it holds: one due entry per function on the scalers' timer heap, which
 * runs the return to min after the scale-down window, and again after a failure.
 */
export class AlertStateCycle {
  private stopped = false;

  constructor(private readonly options: AlertStateCycleOptions) {}

  /** Stops arming scale-downs (the heap's entries go with the scalers). */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves once the state saved for `ref` is stored (AlertStateStore.persisted); rejects with its write's error. */
  persisted(ref: FunctionRef): Promise<void> {
    return this.options.store.persisted?.(ref) ?? Promise.resolve();
  }

  /**
   * The change cycle's hooks: `load` reads the state, `save` stores the decision's state (a
   * PROVIDER_CONFLICT is read and decided again by the cycle), calls `saved`, and arms or
   * cancels the scale-down timer. A `not-due` decision saves nothing.
   */
  hooks<D extends AlertDecision>(ref: FunctionRef, saved: (decision: D) => void = () => undefined): ChangeHooks<D, VersionedAlertState> {
    const { store } = this.options;
    return {
      attempts: MAX_CONFLICT_ATTEMPTS,
      load: () => store.load(ref),
      save: async (decision, stored) => {
        if (decision.reason === 'not-due') {
          if (stored.state.scaleDownAt !== null) this.schedule(ref, stored.state.scaleDownAt);
          return;
        }
        await store.save(ref, decision.state, stored.version);
        saved(decision);
        if (decision.state.scaleDownAt !== null) this.schedule(ref, decision.state.scaleDownAt);
        else this.cancel(ref);
      },
    };
  }

  /**
   * Puts back what a retry needs after applying failed. A scale-up that failed answers 503,
   * so Alertmanager retries; a scale-down whose removal failed later (`settle`) stays
   * pending in the state and is retried on the timer.
   */
  async restore(ref: FunctionRef, phase: 'apply' | 'settle', update: (latest: AlertState) => AlertState): Promise<void> {
    const now = this.options.clock.now();
    const retryAt = now + SCALE_DOWN_RETRY_MS;
    try {
      const latest = await this.options.store.load(ref);
      const restored = update(latest.state);
      await this.options.store.save(ref, phase === 'settle' ? { ...restored, scaleDownAt: restored.scaleDownAt ?? now } : restored, latest.version);
    } catch (err) {
      this.options.logger.error('alert state restore failed', { function: refKey(ref), error: (err as Error).message });
    }
    if (phase === 'settle') {
      this.options.logger.error('scale-down failed, will retry', { function: refKey(ref), retryMs: SCALE_DOWN_RETRY_MS });
      this.schedule(ref, retryAt);
    }
  }

  /** Arms `ref`'s scale-down at `at` (ms, on the clock), replacing its earlier one; nothing once stopped or where this gateway does not decide. */
  schedule(ref: FunctionRef, at: number, earliest = false): void {
    if (this.stopped || !this.owns(ref)) return;
    const run = () => {
      const work = this.scaleDownDue(ref);
      this.options.track?.(work);
    };
    // `earliest`: an entry already due at or before `at` stands.
    if (earliest) this.options.timers.setEarliest(`alert:${refKey(ref)}`, at, run);
    else this.options.timers.set(`alert:${refKey(ref)}`, at, run);
  }

  private cancel(ref: FunctionRef): void {
    this.options.timers.cancel(`alert:${refKey(ref)}`);
  }

  private owns(ref: FunctionRef): boolean {
    return this.options.owns?.(ref) ?? true;
  }

  /**
   * The stored state of `ref` was seen to change (written here or by another gateway): where
   * this gateway decides, its scale-down timer follows it. None pending cancels the timer. A
   * pending one with no live hold is armed at its stored time unless due sooner (a release
   * stored anywhere lets a held scale-down run at once); while held, an armed timer (the
   * recheck) stands. A timer due before the stored time loads the state then and re-arms (`not-due`).
   */
  follow(ref: FunctionRef, state: AlertState): void {
    const { scaleDownAt } = state;
    if (this.stopped || !this.owns(ref)) return;
    if (scaleDownAt === null) this.cancel(ref);
    else if (liveHolds(state, this.options.clock.now(), this.options.timing.firingStaleMs).length === 0) this.schedule(ref, scaleDownAt, true);
    else if (this.options.timers.dueAt(`alert:${refKey(ref)}`) === undefined) this.schedule(ref, scaleDownAt);
  }

  /**
   * Runs a pending scale-down whose window has passed, through the change cycle, and waits
   * for its drain; a provider failure retries it later.
   */
  async scaleDownDue(ref: FunctionRef): Promise<void> {
    const timing = this.options.timing;
    // Its owner now is another gateway (a move): that one armed it from the stored state.
    if (!this.owns(ref)) return;
    try {
      const decide: Decide<Recorded<AlertDecision>, VersionedAlertState> = ({ state, policy, now, context }) => ({
        ...decideScaleDown({ current: state.desired, policy, state: context.state, now, timing }),
        inputs: { scaleDownAt: context.state.scaleDownAt, firing: Object.keys(context.state.firing).length },
      });
      const done = await this.options.changer.change(ref, 'alert', decide, {
        ...this.hooks<Recorded<AlertDecision>>(ref),
        // Only the owner runs a pending scale-down: one that lost the function meanwhile writes nothing.
        asOwner: () => true,
        // Keep the scale-down pending so the retry still finds it.
        failed: (_decision, stored, _err, phase) => this.restore(ref, phase, (latest) => ({ ...latest, scaleDownAt: stored.state.scaleDownAt })),
      });
      // Held (a hold alert, maybe received by another gateway): nothing was saved; look again.
      if (done.heldBy.length > 0) this.schedule(ref, this.options.clock.now() + HELD_RECHECK_MS);
      await done.settled;
    } catch (err) {
      if (isAppError(err, 'LABELS_INVALID')) {
        this.options.logger.warn('scale-down dropped', { function: refKey(ref), problems: problemsOf(err.details) });
        return;
      }
      if (isAppError(err, 'FUNCTION_UNKNOWN', 'FUNCTION_NOT_ENABLED')) {
        this.options.logger.warn('scale-down dropped', { function: refKey(ref), error: (err as Error).message });
        return;
      }
      this.options.logger.error('scale-down failed, will retry', { function: refKey(ref), error: (err as Error).message, retryMs: SCALE_DOWN_RETRY_MS });
      this.schedule(ref, this.options.clock.now() + SCALE_DOWN_RETRY_MS);
    }
  }
}
