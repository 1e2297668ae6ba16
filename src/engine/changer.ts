import type { Clock } from '../core/clock.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseScalingPolicy, type PolicyDefaults, type ScalingPolicy } from '../policy/labels.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { Dispatcher } from './dispatcher.js';
import { chooseVictims, isLeaving, type Drainer } from './drain.js';
import type { EventAction, EventLog, EventSource } from './events.js';
import type { ReplicaView } from './replicas.js';

/** What a decision sees: counts without the replicas being drained, and the replica table. */
export interface ChangeState {
  /** Desired replicas, not counting those the engine is draining. */
  readonly desired: number;
  readonly ready: number;
  readonly replicas: readonly ReplicaView[];
}

/** A pure decision: new count, a reason word, and what it looked at (bounded, JSON-safe). */
export interface Decision {
  readonly replicas: number;
  readonly reason: string;
  readonly inputs?: Readonly<Record<string, unknown>>;
  /**
   * Exactly which replicas go (a policy's per-replica idle removal); the count then falls by
   * the number of those still in service. Absent: the cycle chooses (idle first, newest first).
   */
  readonly remove?: readonly string[];
}

/** What a decision is given: the state, the policy, the time and what `load` read (the alert state). */
export interface DecideInput<C = undefined> {
  readonly state: ChangeState;
  readonly policy: ScalingPolicy;
  /** Epoch ms, from the engine's clock. */
  readonly now: number;
  /** What the change's `load` hook returned; undefined without one. */
  readonly context: C;
}

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
}

/** What one change did; `settled` resolves when a scale-down's drain and removal are done. */
export interface ChangeOutcome<D extends Decision = Decision> {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  readonly changed: boolean;
  /** The decision as returned by `decide`. */
  readonly decision: D;
  /** Resolves (never rejects) once a scale-down's replicas are removed or its removal failed; at once otherwise. */
  readonly settled: Promise<void>;
}

export interface ChangerOptions {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Dispatcher;
  readonly drainer: Drainer;
  readonly clock: Clock;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly defaults: PolicyDefaults;
  readonly defaultNamespace: string;
}

const DEFAULT_ATTEMPTS = 5;

/**
 * The one change cycle: lock → read → decide (pure) → save → apply, and the decision
 * recorded once as an event, unchanged ones too. Up: take back draining replicas first,
 * then raise the provider's count; the event is recorded once the count is raised, so a
 * recorded `scale_up` was applied (a failure is recorded as `scale_failed` instead). Down:
 * record, choose victims, drain them (outside the lock, so a scale-up can take them back),
 * then remove exactly those under the lock. Each replica's start, readiness, drain and
 * removal is an event too. Each applied change is logged once (`scale applied`) and
 * counted once in alert_scaler_scale_changes_total.
 */
export class Changer {
  private readonly mutex = new KeyedMutex();
  /** Replica ids seen per function, and whether each was ready, for lifecycle events. */
  private readonly seen = new Map<string, Map<string, boolean>>();
  private readonly lastSource = new Map<string, EventSource>();
  /** Functions whose count is being raised now: lifecycle events wait for the decision's. */
  private readonly applying = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ChangerOptions) {
    this.unsubscribe = options.provider.subscribe((ref) => this.observe(ref));
  }

  close(): void {
    this.unsubscribe();
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
        if (hooks.save !== undefined) {
          try {
            await hooks.save(decision, context);
          } catch (err) {
            if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < attempts) continue;
            throw err;
          }
        }
        return this.apply(ref, source, read, decision, context, hooks);
      }
    });
  }

  /** Reads the function, its policy and replica table (draining replicas not counted in `desired`). */
  private async read(ref: FunctionRef): Promise<{ state: ChangeState; policy: ScalingPolicy; providerDesired: number }> {
    const { provider, dispatcher } = this.options;
    const state = await provider.getReplicas(ref);
    const policy = parseScalingPolicy(state.labels, state.annotations, this.options.defaults);
    if (!policy.ok) {
      throw new AppError('LABELS_INVALID', `function ${ref.name} has invalid scale labels: ${policy.problems.join('; ')}`, { details: { problems: policy.problems } });
    }
    dispatcher.sync(ref, state);
    this.observe(ref);
    const replicas = dispatcher.replicas(ref);
    const leaving = replicas.filter((r) => r.draining).length;
    return { state: { desired: Math.max(0, state.desired - leaving), ready: state.ready, replicas }, policy: policy.policy, providerDesired: state.desired };
  }

  private async apply<D extends Decision, C>(
    ref: FunctionRef,
    source: EventSource,
    read: { state: ChangeState; providerDesired: number },
    decision: D,
    context: C,
    hooks: ChangeHooks<D, C>,
  ): Promise<ChangeOutcome<D>> {
    const from = read.state.desired;
    // Chosen replicas still in service (under the lock: a request may have taken one meanwhile).
    const chosen = decision.remove?.filter((id) => read.state.replicas.some((r) => r.id === id && !isLeaving(r) && r.phase === 'ready' && r.inFlight === 0));
    const to = chosen === undefined ? Math.max(0, decision.replicas) : Math.max(0, from - chosen.length);
    const inputs = chosen === undefined ? (decision.inputs ?? {}) : { ...decision.inputs, remove: chosen };
    const outcome = (changed: boolean, settled: Promise<void>): ChangeOutcome<D> => ({ from, to, reason: decision.reason, changed, decision, settled });
    if (to === from) {
      this.record(ref, source, 'unchanged', from, to, decision.reason, inputs);
      return outcome(false, Promise.resolve());
    }
    const key = refKey(ref);
    this.lastSource.set(key, source);
    const started = performance.now();
    let settled = Promise.resolve();
    if (to > from) {
      this.applying.add(key);
      try {
        await this.up(ref, read.providerDesired, to - from);
      } catch (err) {
        this.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', { ...inputs, decided: decision.reason });
        await hooks.failed?.(decision, context, err, 'apply');
        throw err;
      } finally {
        this.applying.delete(key);
      }
      this.record(ref, source, 'scale_up', from, to, decision.reason, inputs);
      this.observe(ref);
    } else {
      this.record(ref, source, 'scale_down', from, to, decision.reason, inputs);
      settled = this.down(ref, source, from, to, chosen ?? chooseVictims(read.state.replicas.filter((r) => !isLeaving(r)), from - to), (err) => hooks.failed?.(decision, context, err, 'settle') ?? Promise.resolve());
    }
    const label = this.label(ref);
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
    return outcome(true, settled);
  }

  /** Draining replicas still count in the provider's desired, so taking one back needs no new one. */
  private async up(ref: FunctionRef, providerDesired: number, more: number): Promise<void> {
    const takenBack = this.options.drainer.takeBack(ref, more).length;
    const target = providerDesired + (more - takenBack);
    if (target !== providerDesired) await this.options.provider.setReplicas(ref, target);
  }

  /**
   * Drains and removes `victims` (`from - to` of them, or fewer). Replicas the provider counts but does not list
   * yet (still being created) have nothing to drain: once the drained ones are removed, the
   * count is lowered by that many more. A failed removal puts the drained replicas back in
   * service and calls `onFailed`.
   */
  private down(ref: FunctionRef, source: EventSource, from: number, to: number, victims: readonly string[], onFailed: (err: unknown) => Promise<void>): Promise<void> {
    const { provider, drainer, dispatcher } = this.options;
    const unlisted = from - to - victims.length;
    for (const id of victims) this.record(ref, source, 'drain_start', from, to, 'scale-down', {}, id);
    const failed = async (err: unknown, removing: readonly string[]): Promise<void> => {
      dispatcher.setDraining(ref, removing, false);
      this.options.logger.error('drain failed', { function: this.label(ref), error: err instanceof Error ? err.message : String(err) });
      this.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', {});
      await onFailed(err).catch((hookErr: unknown) => {
        this.options.logger.error('scale-down failure not handled', { function: this.label(ref), error: hookErr instanceof Error ? hookErr.message : String(hookErr) });
      });
    };
    return drainer.drain(ref, victims).then(
      (outcomes) =>
        // Removal and its failure handling under the lock: the next change sees the restored state.
        this.mutex.run(refKey(ref), async () => {
          const remove = [...outcomes].filter(([, o]) => o === 'drained' || o === 'drain-timeout').map(([id]) => id);
          try {
            if (remove.length > 0) {
              await provider.removeReplicas(ref, remove);
              // The provider's count no longer includes them and its phase keeps them out of
              // routing: the engine's flag would count them as leaving a second time.
              dispatcher.setDraining(ref, remove, false);
            }
            if (unlisted > 0) {
              const { desired } = await provider.getReplicas(ref);
              await provider.setReplicas(ref, Math.max(0, desired - unlisted));
            }
          } catch (err) {
            await failed(err, remove);
            return;
          }
          for (const id of remove) this.record(ref, source, 'scale_down_complete', from, to, outcomes.get(id) ?? 'drained', {}, id);
        }),
      (err: unknown) => failed(err, victims),
    );
  }

  /** Records replicas that appeared (`scale_up_start`) or became ready (`scale_up_complete`). */
  private observe(ref: FunctionRef): void {
    const key = refKey(ref);
    if (this.applying.has(key)) return;
    const known = this.seen.get(key) ?? new Map<string, boolean>();
    const first = !this.seen.has(key);
    this.seen.set(key, known);
    const source = this.lastSource.get(key) ?? 'policy';
    const listed = this.options.provider.listReplicas(ref);
    for (const replica of listed) {
      const ready = replica.phase === 'ready';
      const was = known.get(replica.id);
      if (was === undefined && !first) this.record(ref, source, 'scale_up_start', 0, 0, replica.phase, {}, replica.id);
      if (ready && was !== true && !(was === undefined && first)) this.record(ref, source, 'scale_up_complete', 0, 0, 'ready', {}, replica.id);
      known.set(replica.id, ready || (was ?? false));
    }
    const ids = new Set(listed.map((r) => r.id));
    for (const id of [...known.keys()]) if (!ids.has(id)) known.delete(id);
  }

  private record(ref: FunctionRef, source: EventSource, action: EventAction, from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, replica?: string): void {
    const base = { time: this.options.clock.now(), function: this.label(ref), source, action, from, to, reason, inputs };
    this.options.events.record(replica === undefined ? base : { ...base, replica });
  }

  private label(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }
}
