import type { Clock } from '../core/clock.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { ChangeState as CycleState, DecideInput as CycleInput, Decision, ScaleDownGuard } from '../policy/cycle.js';
import type { PolicyDefaults, ScalingPolicy } from '../policy/labels.js';
import { PolicyCache } from './policies.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaChanges, type ReplicaInfo, type ReplicaProvider } from '../providers/types.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { Dispatcher } from './dispatcher.js';
import { chooseVictims, isLeaving, type Drainer } from './drain.js';
import type { EventAction, EventLog, EventSource } from './events.js';
import type { ReplicaView } from './replicas.js';

export type { Decision, ScaleDownGuard } from '../policy/cycle.js';

/**
 * The count a decision asks for, given the state it was decided on: with `remove`, the
 * count falls by the chosen replicas still in service (a request may have taken one
 * meanwhile), which are returned as `chosen`.
 */
function target(state: ChangeState, decision: Decision): { to: number; chosen: readonly string[] | undefined } {
  let chosen: string[] | undefined;
  if (decision.remove !== undefined) {
    const idle = new Set(state.replicas.filter((r) => !isLeaving(r) && r.phase === 'ready' && r.inFlight === 0).map((r) => r.id));
    chosen = decision.remove.filter((id) => idle.has(id));
  }
  return { to: chosen === undefined ? Math.max(0, decision.replicas) : Math.max(0, state.desired - chosen.length), chosen };
}

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
  /** Replica ids seen per function, and whether each was ready, for lifecycle events. */
  private readonly seen = new Map<string, Map<string, boolean>>();
  /** Functions whose provider sends `ReplicaChanges` (their `seen` is kept without relisting). */
  private readonly incremental = new Set<string>();
  /** Changes that arrived while the count was being raised, latest per replica (null: gone). */
  private readonly deferred = new Map<string, Map<string, ReplicaInfo | null>>();
  private readonly lastSource = new Map<string, EventSource>();
  /** Functions whose count is being raised now: lifecycle events wait for the decision's. */
  private readonly applying = new Set<string>();
  /** The last dry-run or held decision recorded per function, so a repeat is not recorded again. */
  private readonly lastNotApplied = new Map<string, string>();
  private readonly unsubscribe: () => void;
  private readonly settlingListeners = new Set<(ref: FunctionRef, settled: Promise<void>) => void>();

  private readonly policies: PolicyCache;

  constructor(private readonly options: ChangerOptions) {
    this.policies = options.policies ?? new PolicyCache(options.defaults);
    this.unsubscribe = options.provider.subscribe((ref, _state, changes) => this.observe(ref, changes));
  }

  close(): void {
    this.unsubscribe();
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
        const heldBy = this.heldBy(ref, source, read.state, decision);
        if (heldBy.length > 0) return this.hold(ref, source, read.state, decision, heldBy);
        if (hooks.save !== undefined) {
          try {
            await hooks.save(decision, context);
          } catch (err) {
            if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < attempts) continue;
            throw err;
          }
        }
        const outcome = await this.apply(ref, source, read, decision, context, hooks);
        if (outcome.changed && this.settlingListeners.size > 0) for (const listener of [...this.settlingListeners]) listener(ref, outcome.settled);
        return outcome;
      }
    });
  }

  /** Reads the function, its policy and replica table (draining replicas not counted in `desired`). */
  /** What holds a decision that would lower the count; empty when it would not, or nothing holds, or the source is not held. */
  private heldBy(ref: FunctionRef, source: EventSource, state: ChangeState, decision: Decision): readonly string[] {
    const { guard } = this.options;
    if (guard === undefined || NOT_HELD.has(source) || target(state, decision).to >= state.desired) return [];
    return guard.holding(ref);
  }

  /** A held scale-down: recorded as `unchanged` (reason `hold`, once per repeat), nothing saved or applied. */
  private hold<D extends Decision>(ref: FunctionRef, source: EventSource, state: ChangeState, decision: D, heldBy: readonly string[]): ChangeOutcome<D> {
    const from = state.desired;
    const { to } = target(state, decision);
    this.recordOnce(ref, source, 'unchanged', from, from, 'hold', { ...decision.inputs, decided: decision.reason, wanted: to, heldBy }, false);
    return { from, to, reason: 'hold', changed: false, dryRun: false, heldBy, decision, settled: Promise.resolve() };
  }

  private async read(ref: FunctionRef): Promise<{ state: ChangeState; policy: ScalingPolicy; providerDesired: number }> {
    const { provider, dispatcher } = this.options;
    const state = await provider.getReplicas(ref);
    const policy = this.policies.of(refKey(ref), state.labels, state.annotations).scaling;
    if (!policy.ok) {
      throw new AppError('LABELS_INVALID', `function ${ref.name} has invalid scale labels: ${policy.problems.join('; ')}`, { details: { problems: policy.problems } });
    }
    dispatcher.sync(ref, state);
    this.catchUp(ref);
    const replicas = dispatcher.replicas(ref);
    const leaving = replicas.filter((r) => r.draining).length;
    return { state: { desired: Math.max(0, state.desired - leaving), ready: state.ready, replicas }, policy: policy.policy, providerDesired: state.desired };
  }

  private async apply<D extends Decision, C>(
    ref: FunctionRef,
    source: EventSource,
    read: { state: ChangeState; policy: ScalingPolicy; providerDesired: number },
    decision: D,
    context: C,
    hooks: ChangeHooks<D, C>,
  ): Promise<ChangeOutcome<D>> {
    const from = read.state.desired;
    const { to, chosen } = target(read.state, decision);
    const inputs = chosen === undefined ? (decision.inputs ?? {}) : { ...decision.inputs, remove: chosen };
    const outcome = (changed: boolean, settled: Promise<void>, dryRun = false): ChangeOutcome<D> => ({ from, to, reason: decision.reason, changed, dryRun, heldBy: [], decision, settled });
    const key = refKey(ref);
    if (to === from) {
      this.lastNotApplied.delete(key);
      this.record(ref, source, 'unchanged', from, to, decision.reason, inputs);
      return outcome(false, Promise.resolve());
    }
    if (read.policy.dryRun === true && !APPLIED_IN_DRY_RUN.has(source)) {
      if (this.recordOnce(ref, source, to > from ? 'scale_up' : 'scale_down', from, to, decision.reason, inputs, true)) {
        this.options.logger.info('scale dry run', { function: this.label(ref), from, to, reason: decision.reason, source, ...hooks.logFields?.(decision) });
      }
      return outcome(false, Promise.resolve(), true);
    }
    this.lastNotApplied.delete(key);
    this.lastSource.set(key, source);
    const started = performance.now();
    let settled = Promise.resolve();
    if (to > from) {
      this.applying.add(key);
      try {
        await this.up(ref, read.providerDesired, to - from);
      } catch (err) {
        this.record(ref, source, 'scale_failed', from, to, err instanceof AppError ? err.code : 'error', { ...inputs, decided: decision.reason });
        this.applying.delete(key);
        this.catchUp(ref);
        await hooks.failed?.(decision, context, err, 'apply');
        throw err;
      } finally {
        this.applying.delete(key);
      }
      this.record(ref, source, 'scale_up', from, to, decision.reason, inputs);
      this.catchUp(ref);
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

  /**
   * A provider notification: records replicas that appeared (`scale_up_start`) or became
   * ready (`scale_up_complete`), from its `changes` (O(changed replicas)) when it sends them,
   * else from the whole list. While the count is being raised, changes wait for `catchUp`,
   * so the lifecycle events follow the decision's.
   */
  private observe(ref: FunctionRef, changes: ReplicaChanges | undefined): void {
    const key = refKey(ref);
    if (changes === undefined) this.incremental.delete(key);
    else this.incremental.add(key);
    if (this.applying.has(key)) {
      if (changes !== undefined) this.defer(key, changes);
      return;
    }
    const known = this.seen.get(key);
    if (known === undefined || changes === undefined) {
      this.relist(ref);
      return;
    }
    const source = this.lastSource.get(key) ?? 'policy';
    for (const replica of changes.upserted) this.see(ref, source, known, replica, false);
    for (const id of changes.removed) known.delete(id);
  }

  private defer(key: string, changes: ReplicaChanges): void {
    let later = this.deferred.get(key);
    if (later === undefined) this.deferred.set(key, (later = new Map()));
    for (const replica of changes.upserted) later.set(replica.id, replica);
    for (const id of changes.removed) later.set(id, null);
  }

  /** Brings the lifecycle view up to date outside a notification (at a read, after a raise). */
  private catchUp(ref: FunctionRef): void {
    const key = refKey(ref);
    const known = this.seen.get(key);
    const later = this.deferred.get(key);
    this.deferred.delete(key);
    if (known === undefined || !this.incremental.has(key)) {
      this.relist(ref);
      return;
    }
    if (later === undefined) return;
    const source = this.lastSource.get(key) ?? 'policy';
    for (const [id, replica] of later) {
      if (replica === null) known.delete(id);
      else this.see(ref, source, known, replica, false);
    }
  }

  /** Compares the whole list with what was seen; the first list of a function records nothing. */
  private relist(ref: FunctionRef): void {
    const key = refKey(ref);
    const known = this.seen.get(key) ?? new Map<string, boolean>();
    const first = !this.seen.has(key);
    this.seen.set(key, known);
    const source = this.lastSource.get(key) ?? 'policy';
    const listed = this.options.provider.listReplicas(ref);
    for (const replica of listed) this.see(ref, source, known, replica, first);
    if (known.size === listed.length) return;
    const ids = new Set(listed.map((r) => r.id));
    for (const id of [...known.keys()]) if (!ids.has(id)) known.delete(id);
  }

  private see(ref: FunctionRef, source: EventSource, known: Map<string, boolean>, replica: ReplicaInfo, first: boolean): void {
    const ready = replica.phase === 'ready';
    const was = known.get(replica.id);
    // A replica first seen already leaving (listed late, then drained) did not start now.
    const leaving = replica.phase === 'draining' || replica.phase === 'stopping';
    if (was === undefined && !first && !leaving) this.record(ref, source, 'scale_up_start', 0, 0, replica.phase, {}, replica.id);
    if (ready && was !== true && !(was === undefined && first)) this.record(ref, source, 'scale_up_complete', 0, 0, 'ready', {}, replica.id);
    known.set(replica.id, ready || (was ?? false));
  }

  private record(ref: FunctionRef, source: EventSource, action: EventAction, from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, replica?: string, dryRun = false): void {
    const base = { time: this.options.clock.now(), function: this.label(ref), source, action, from, to, reason, inputs, ...(dryRun ? { dryRun } : {}) };
    this.options.events.record(replica === undefined ? base : { ...base, replica });
  }

  /**
   * Records a decision that is not applied (dry run, hold) unless the same one (source,
   * action, counts, reason) was the function's last such record; true when recorded.
   */
  private recordOnce(ref: FunctionRef, source: EventSource, action: EventAction, from: number, to: number, reason: string, inputs: Readonly<Record<string, unknown>>, dryRun: boolean): boolean {
    const key = refKey(ref);
    const signature = `${source} ${action} ${from} ${to} ${reason}`;
    if (this.lastNotApplied.get(key) === signature) return false;
    this.lastNotApplied.set(key, signature);
    this.record(ref, source, action, from, to, reason, inputs, undefined, dryRun);
    return true;
  }

  private label(ref: FunctionRef): string {
    return functionLabel(ref, this.options.defaultNamespace);
  }
}
