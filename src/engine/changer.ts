import type { Clock } from '../core/clock.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { ChangeState as CycleState, DecideInput as CycleInput, Decision, ScaleDownGuard } from '../policy/cycle.js';
import type { PolicyDefaults, ScalingPolicy } from '../policy/labels.js';
import { PolicyCache } from './policies.js';
import { refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { Dispatcher } from './dispatcher.js';
import { chooseVictims, isLeaving, type Drainer } from './drain.js';
import type { EventLog, EventSource } from './events.js';
import { ChangeRecorder } from './change-record.js';
import { Lifecycle } from './lifecycle.js';
import { ScaleDown, targetOf } from './scale-down.js';
import { ScaleUp } from './scale-up.js';
import type { ReplicaView } from './replicas.js';

export type { Decision, ScaleDownGuard } from '../policy/cycle.js';

/** What a decision sees, with the engine's replica table (see src/policy/cycle.ts). */
export type ChangeState = CycleState<ReplicaView>;

/** What a decision is given, with the engine's replica table (see src/policy/cycle.ts). */
export type DecideInput<C = undefined> = CycleInput<C, ReplicaView>;

/**
 * A pure function of state, policy and time: no I/O, no clock reads. It may return a
 * promise only to let the event loop turn inside a very large decision (an alert flood).
 */
export type Decide<D extends Decision = Decision, C = undefined> = (input: DecideInput<C>) => D | Promise<D>;

/** Optional steps of one change cycle around the decision; all run under the function's lock. */
export interface ChangeHooks<D extends Decision, C> {
  /** After the read, before the decision: what else the decision needs (the alert state); I/O allowed. */
  readonly load?: () => Promise<C>;
  /**
   * After the decision, before it is logged or applied: keeps what the decision needs kept
   * (the alert state). PROVIDER_CONFLICT re-runs read → load → decide → save, at most
   * `attempts` times in all; any other error ends the cycle unrecorded.
   */
  readonly save?: (decision: D, context: C) => Promise<void>;
  /** Attempts of read → decide → save when `save` meets PROVIDER_CONFLICT; default 5. */
  readonly attempts?: number;
  /**
   * Applying the saved decision failed: `apply` when raising the count (the error then
   * propagates from `change`), `settle` when a scale-down's removal failed later (the
   * drained replicas serve again). Put back what a retry needs to find.
   */
  readonly failed?: (decision: D, context: C, err: unknown, phase: 'apply' | 'settle') => Promise<void>;
  /** Extra fields of the `scale applied` log line (bounded). */
  readonly logFields?: (decision: D) => Readonly<Record<string, unknown>>;
  /** True when `decision` was made as the function's owner (an alert's return to min; any gateway may step up): its scale-down is fenced as a FENCED source's. */
  readonly asOwner?: (decision: D) => boolean;
}

/** What one change did; `settled` resolves when a scale-down's drain and removal are done. */
export interface ChangeOutcome<D extends Decision = Decision> {
  readonly from: number;
  /** The count decided (in a dry run or under a hold: the count that would have been applied). */
  readonly to: number;
  readonly reason: string;
  /** True when the count was changed (never in a dry run or under a hold). */
  readonly changed: boolean;
  /** A dry run: the decision was recorded with `dryRun: true`, not applied. */
  readonly dryRun: boolean;
  /** The alerts holding the function (`scale_action="hold"`) that blocked this scale-down; empty when none did. */
  readonly heldBy: readonly string[];
  /** The decision as returned by `decide`. */
  readonly decision: D;
  /** Resolves (never rejects) once a scale-down's replicas are removed or its removal failed; at once otherwise. */
  readonly settled: Promise<void>;
}

/**
 * Sources a dry run still applies: a wake (the calls waiting for it would otherwise hang
 * until their 504) and the scale API (an operator's explicit order).
 */
export const APPLIED_IN_DRY_RUN: ReadonlySet<EventSource> = new Set<EventSource>(['waker', 'api']);
/** Sources a hold does not block: the scale API (an operator's explicit order). The waker never lowers a count. */
export const NOT_HELD: ReadonlySet<EventSource> = new Set<EventSource>(['api']);
/** Sources whose decisions only the function's owner makes, so their writes are fenced (`ChangerOptions.owns`); see also `ChangeHooks.asOwner`. */
export const FENCED: ReadonlySet<EventSource> = new Set<EventSource>(['policy', 'idler']);

export interface ChangerOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Dispatcher;
  readonly drainer: Drainer;
  readonly clock: Clock;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Policy defaults; `dryRun` here is the config's, which a function's `dry-run` label overrides. */
  readonly defaults: PolicyDefaults;
  readonly defaultNamespace: string;
  /** Holds on scale-downs (alerts); none when absent. */
  readonly guard?: ScaleDownGuard;
  /** Parsed policies shared with the scalers; one of its own (on `defaults`) when absent. */
  readonly policies?: PolicyCache;
  /**
   * Whether this gateway still owns the function, asked right before a FENCED source's write
   * (after every await of the cycle and of a scale-down's drain): a decision made by an owner
   * that has lost its bucket is not applied (NOT_OWNER, recorded as `scale_failed`). Always when absent.
   */
  readonly owns?: (ref: FunctionRef) => boolean;
}

const DEFAULT_ATTEMPTS = 5;

/** What the cycle read: the state a decision sees, the parsed policy and the provider's own count. */
interface ReadState {
  readonly state: ChangeState;
  readonly policy: ScalingPolicy;
  readonly providerDesired: number;
}

/**
 * The one change cycle: lock → read → decide (pure) → save → apply, and the decision
 * recorded once as an event, unchanged ones too. Up: take back draining replicas first,
 * then raise the provider's count; the event is recorded once the count is raised, so a
 * recorded `scale_up` was applied (else `scale_failed`; src/engine/scale-up.ts). Down:
 * record, choose victims, drain and remove them (src/engine/scale-down.ts). Each replica's
 * start and readiness is an event too (src/engine/lifecycle.ts). Each applied change is
 * logged once (`scale applied`) and counted once in alert_scaler_scale_changes_total.
 *
 * Dry run and hold are decided here, once, for every source. Dry run (config `dryRun`, label
 * `com.openfaas.scale.dry-run`): a change is recorded as its `scale_up`/`scale_down` event
 * with `dryRun: true` and not applied (the `save` hook still runs: the alert bookkeeping
 * goes on as if); the waker and the API are applied anyway (APPLIED_IN_DRY_RUN). Hold
 * (the guard): a decision that would lower the count is recorded as `unchanged` with reason
 * `hold` and nothing is saved, so a pending alert scale-down stays pending; the API is not
 * held (NOT_HELD). A dry-run or held decision repeated unchanged is recorded once.
 */
export class Changer {
  private readonly mutex = new KeyedMutex();
  private readonly recorder: ChangeRecorder;
  private readonly lifecycle: Lifecycle;
  private readonly scaleUp: ScaleUp;
  private readonly scaleDown: ScaleDown;
  private readonly settlingListeners = new Set<(ref: FunctionRef, settled: Promise<void>) => void>();

  private readonly policies: PolicyCache;

  constructor(private readonly options: ChangerOptions) {
    this.policies = options.policies ?? new PolicyCache(options.defaults);
    const { provider, dispatcher, drainer, logger } = options;
    this.recorder = new ChangeRecorder(options.events, options.clock, options.defaultNamespace);
    this.lifecycle = new Lifecycle(provider, this.recorder);
    this.scaleUp = new ScaleUp({ provider, drainer, recorder: this.recorder, lifecycle: this.lifecycle });
    this.scaleDown = new ScaleDown({ provider, dispatcher, drainer, logger, mutex: this.mutex, recorder: this.recorder });
  }

  close(): void {
    this.lifecycle.close();
  }

  /**
   * Calls `listener` after each applied change with the promise that resolves when it has
   * settled (a scale-down's drain and removal; at once for a scale-up): lets a caller (the
   * simulator) follow drains without wrapping the changer. Returns the unsubscribe function.
   */
  onSettling(listener: (ref: FunctionRef, settled: Promise<void>) => void): () => void {
    this.settlingListeners.add(listener);
    return () => this.settlingListeners.delete(listener);
  }

  /** Runs `task` under the function's change lock (for a change made outside the cycle). */
  locked<T>(ref: FunctionRef, task: () => Promise<T>): Promise<T> {
    return this.mutex.run(refKey(ref), task);
  }

  /**
   * Runs one change cycle for `ref`. Invalid scale labels are LABELS_INVALID (with
   * `details.problems`) and record nothing. Provider errors while applying are recorded
   * (`scale_failed`) and propagate.
   */
  change<D extends Decision, C = undefined>(ref: FunctionRef, source: EventSource, decide: Decide<D, C>, hooks: ChangeHooks<D, C> = {}): Promise<ChangeOutcome<D>> {
    return this.mutex.run(refKey(ref), async () => {
      const attempts = Math.max(1, hooks.attempts ?? DEFAULT_ATTEMPTS);
      for (let attempt = 1; ; attempt++) {
        const read = await this.read(ref);
        const context = hooks.load === undefined ? (undefined as C) : await hooks.load();
        const decision = await decide({ state: read.state, policy: read.policy, now: this.options.clock.now(), context });
        const heldBy = await this.heldBy(ref, source, read.state, decision);
        if (heldBy.length > 0) return this.hold(ref, source, read.state, decision, heldBy);
        if (hooks.save !== undefined) {
          try {
            await hooks.save(decision, context);
          } catch (err) {
            if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < attempts) continue;
            throw err;
          }
        }
        let outcome: ChangeOutcome<D>;
        try {
          outcome = await this.apply(ref, source, read, decision, context, hooks, attempt < attempts);
        } catch (err) {
          // A provider that merges the saved state into the count's write (Kubernetes) finds a
          // conflicting state only there: read and decide again, as for a conflicting save.
          if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < attempts) continue;
          throw err;
        }
        if (outcome.changed && this.settlingListeners.size > 0) for (const listener of [...this.settlingListeners]) listener(ref, outcome.settled);
        return outcome;
      }
    });
  }

  /** What holds a decision that would lower the count; empty when it would not, or nothing holds, or the source is not held. */
  private async heldBy(ref: FunctionRef, source: EventSource, state: ChangeState, decision: Decision): Promise<readonly string[]> {
    const { guard } = this.options;
    if (guard === undefined || NOT_HELD.has(source) || targetOf(state, decision).to >= state.desired) return [];
    return await guard.holding(ref);
  }

  /** A held scale-down: recorded as `unchanged` (reason `hold`, once per repeat), nothing saved or applied. */
  private hold<D extends Decision>(ref: FunctionRef, source: EventSource, state: ChangeState, decision: D, heldBy: readonly string[]): ChangeOutcome<D> {
    const from = state.desired;
    const { to } = targetOf(state, decision);
    this.recorder.recordOnce(ref, source, 'unchanged', from, from, 'hold', { ...decision.inputs, decided: decision.reason, wanted: to, heldBy }, false);
    return { from, to, reason: 'hold', changed: false, dryRun: false, heldBy, decision, settled: Promise.resolve() };
  }

  /** Reads the function, its policy and replica table (draining replicas not counted in `desired`). */
  private async read(ref: FunctionRef): Promise<ReadState> {
    const { provider, dispatcher } = this.options;
    const state = await provider.getReplicas(ref);
    const policy = this.policies.of(refKey(ref), state.labels, state.annotations).scaling;
    if (!policy.ok) {
      throw new AppError('LABELS_INVALID', `function ${ref.name} has invalid scale labels: ${policy.problems.join('; ')}`, { details: { problems: policy.problems } });
    }
    dispatcher.sync(ref, state);
    this.lifecycle.catchUp(ref);
    const replicas = dispatcher.replicas(ref);
    const leaving = replicas.filter((r) => r.draining).length;
    return { state: { desired: Math.max(0, state.desired - leaving), ready: state.ready, replicas }, policy: policy.policy, providerDesired: state.desired };
  }

  /** Applies a saved decision: unchanged, dry run, up or down; logs and counts an applied change once. */
  private async apply<D extends Decision, C>(ref: FunctionRef, source: EventSource, read: ReadState, decision: D, context: C, hooks: ChangeHooks<D, C>, retryable: boolean): Promise<ChangeOutcome<D>> {
    const from = read.state.desired;
    const { to, chosen } = targetOf(read.state, decision);
    const inputs = chosen === undefined ? (decision.inputs ?? {}) : { ...decision.inputs, remove: chosen };
    const outcome = (changed: boolean, settled: Promise<void>, dryRun = false): ChangeOutcome<D> => ({ from, to, reason: decision.reason, changed, dryRun, heldBy: [], decision, settled });
    const key = refKey(ref);
    if (to === from) {
      this.recorder.forgetNotApplied(key);
      this.recorder.record(ref, source, 'unchanged', from, to, decision.reason, inputs);
      return outcome(false, Promise.resolve());
    }
    if (read.policy.dryRun === true && !APPLIED_IN_DRY_RUN.has(source)) {
      if (this.recorder.recordOnce(ref, source, to > from ? 'scale_up' : 'scale_down', from, to, decision.reason, inputs, true)) {
        this.options.logger.info('scale dry run', { function: this.recorder.label(ref), from, to, reason: decision.reason, source, ...hooks.logFields?.(decision) });
      }
      return outcome(false, Promise.resolve(), true);
    }
    const fenced = this.fenceOf(ref, FENCED.has(source) || (to < from && hooks.asOwner?.(decision) === true), source);
    fenced.fence?.(); // Not the owner any more: nothing is recorded, drained or written (checked again right before each write).
    this.recorder.forgetNotApplied(key);
    this.lifecycle.changedBy(key, source);
    const started = performance.now();
    let settled = Promise.resolve();
    if (to > from) {
      const order = { ref, source, from, to, providerDesired: read.providerDesired, reason: decision.reason, inputs, ...fenced };
      await this.scaleUp.run(order, key, (err) => hooks.failed?.(decision, context, err, 'apply'), retryable);
    } else {
      this.recorder.record(ref, source, 'scale_down', from, to, decision.reason, inputs);
      const victims = chosen ?? chooseVictims(read.state.replicas.filter((r) => !isLeaving(r)), from - to);
      settled = this.scaleDown.run({ ref, source, from, to, victims, ...fenced }, (err) => hooks.failed?.(decision, context, err, 'settle') ?? Promise.resolve());
    }
    this.applied(ref, source, from, to, decision, hooks, started);
    return outcome(true, settled);
  }

  /** The fence of an owner's write (`ownerOnly`) when ownership is known: throws NOT_OWNER once this gateway no longer owns `ref`. */
  private fenceOf(ref: FunctionRef, ownerOnly: boolean, source: EventSource): { fence?: () => void } {
    const { owns } = this.options;
    if (owns === undefined || !ownerOnly) return {};
    return {
      fence: () => {
        if (!owns(ref)) throw new AppError('NOT_OWNER', `this gateway no longer owns function ${ref.name}: its ${source} decision is not applied`);
      },
    };
  }

  /** The one `scale applied` line of an applied change, and its count in alert_scaler_scale_changes_total. */
  private applied<D extends Decision, C>(ref: FunctionRef, source: EventSource, from: number, to: number, decision: D, hooks: ChangeHooks<D, C>, started: number): void {
    const label = this.recorder.label(ref);
    this.options.metrics.scaleChanges.inc({ function_name: label, reason: decision.reason, source });
    this.options.logger.info('scale applied', {
      function: label,
      from,
      to,
      reason: decision.reason,
      source,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...hooks.logFields?.(decision),
    });
  }
}
