import type { Clock } from '../core/clock.js';
import { functionLabel, refKey, type FunctionRef } from '../core/ref.js';
import type { TimerHeap } from '../core/timers.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { decideIdle } from '../policy/idle.js';
import { EMPTY_POLICY_MEMORY, isAlertDriven, policySettings, type PolicyMemory, type PolicySpec } from '../policy/index.js';
import type { ScalingPolicy } from '../policy/labels.js';
import type { ReplicaState } from '../providers/types.js';
import type { InvocationLog } from './activity.js';
import { takeoverWindowMs } from '../policy/takeover.js';
import { evaluatePolicy, type EvaluateContext, type Evaluation, type TakeoverGate } from './evaluate.js';
import type { IdleSource } from './idle.js';
import type { ParsedPolicy, PolicyCache } from './policies.js';
import { removeReplicaStates, reportReplicaStates, unreported } from './replica-gauges.js';

/** What every function's scaler shares: the engine's parts and the gateway's inputs. */
export interface ScalerContext extends EvaluateContext {
  readonly policies: PolicyCache;
  readonly clock: Clock;
  readonly timers: TimerHeap;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
  /** Time between two evaluations while a function is active, ms. */
  readonly tickMs: number;
  /** Whether this gateway decides for the function (owns its bucket) now. */
  readonly owns: (ref: FunctionRef) => boolean;
  readonly activity: InvocationLog;
  readonly idleSource: IdleSource;
  /** When an idle function's source says it is not idle yet (traffic elsewhere, unknown), ask again after this, ms. */
  readonly idleRecheckMs: number;
  /** Called with every piece of async work an event or a due time starts (the simulator follows them); a no-op on the gateway. */
  readonly spawn: (work: Promise<unknown>) => void;
  /** The provider no longer knows this function: forget its scaler. */
  readonly gone: (scaler: FunctionScaler) => void;
  readonly counters: { evaluations: number }; // work counters (footprint test and bench)
}

/**
 * One function's scaler: its parsed policy (from the shared cache, refreshed only when its
 * labels change), its policy memory, and its due times on the shared timer heap (`tick:`
 * while active, `idle:` while it may go to zero). Every input is an event: `observe` (a
 * provider notification), `poke` (a request arrived at a quiet function), `evaluateNow` (a
 * request had to queue, an alert for a non-`rps` kind), `checkIdle` (its idle deadline).
 * A function with no traffic, no running window and no deadline has nothing scheduled.
 */
export class FunctionScaler {
  readonly key: string;
  readonly label: string;
  /** The provider's desired count, as last notified or read. */
  desired = 0;
  private parsed: ParsedPolicy | undefined;
  private memory: PolicyMemory = EMPTY_POLICY_MEMORY;
  private running = false;
  private again = false;
  private pending: Promise<Evaluation | null> | undefined;
  /** The last problems logged (one per line), so invalid labels are logged once per change. */
  private problems = '';
  /** Settings series set for this function (their names): the registry holds the values; no child object is kept per series. */
  private settings: readonly string[] = [];
  /** The replica-state counts last set on the gauges (undefined before the first scrape). */
  private reported: number[] | undefined;
  /** When this gateway started deciding for it (start-up, a gain of ownership), else null: the takeover guard counts from it. */
  private adoptedAt: number | null = null;
  /** Whether this takeover's hold was recorded as an event (once per takeover). */
  private takeoverRecorded = false;

  /** @param since when this gateway started deciding (its start, or becoming leader): the takeover counts from it; a function another gateway owns now is adopted when it moves here. */
  constructor(
    readonly ref: FunctionRef,
    private readonly ctx: ScalerContext,
    since: number = ctx.clock.now(),
  ) {
    this.adoptedAt = ctx.owns(ref) ? since : null;
    this.key = refKey(ref);
    this.label = functionLabel(ref, ctx.defaultNamespace);
  }

  /** The kind's spec; null before the labels are known or while they are invalid. */
  get spec(): PolicySpec | null {
    return this.parsed?.spec.ok === true ? this.parsed.spec.spec : null;
  }

  /** The scale policy (min, max, scale-to-zero); null before the labels are known or while invalid. */
  get scaling(): ScalingPolicy | null {
    return this.parsed?.scaling.ok === true ? this.parsed.scaling.policy : null;
  }

  /** The parsed labels (with their problems); undefined before they are known. */
  get policy(): ParsedPolicy | undefined { return this.parsed; }

  /** Takes the provider's facts: the count, and the labels (parsed again only when they changed). */
  sync(state: ReplicaState): void {
    this.desired = state.desired;
    const parsed = this.ctx.policies.of(this.key, state.labels, state.annotations);
    if (parsed === this.parsed) return;
    this.parsed = parsed;
    this.reportSpec();
  }

  /** A provider notification: the facts, then a look one tick from now and the idle deadline. */
  observe(state: ReplicaState): void {
    this.sync(state);
    this.poke(this.ctx.tickMs);
    this.armIdle();
  }

  /** Asks for an evaluation `delayMs` from now (an earlier one already asked for stands); only where a policy decides. */
  poke(delayMs: number): void {
    const spec = this.spec;
    if (spec === null || isAlertDriven(spec.kind) || !this.decides()) return;
    const { timers, clock } = this.ctx;
    timers.setEarliest(`tick:${this.key}`, clock.now() + delayMs, () => this.ctx.spawn(this.evaluate()));
  }

  /**
   * Evaluates now. Calls made before the evaluation starts share it (a burst of queued
   * requests is one evaluation). Null when nothing was evaluated (not the owner, `rps`, labels
   * invalid or unknown).
   */
  evaluateNow(): Promise<Evaluation | null> {
    this.pending ??= Promise.resolve().then(() => {
      this.pending = undefined;
      return this.evaluate();
    });
    return this.pending;
  }

  /** Runs the policy once (once more after, when asked meanwhile); schedules the next look unless quiet. */
  async evaluate(): Promise<Evaluation | null> {
    const spec = this.spec;
    if (spec === null || isAlertDriven(spec.kind) || !this.decides() || this.asleep()) return null;
    if (this.running) {
      this.again = true;
      return null;
    }
    this.running = true;
    this.ctx.timers.cancel(`tick:${this.key}`);
    let result: Evaluation | null = null;
    try {
      this.ctx.counters.evaluations += 1;
      const out = await evaluatePolicy(this.ctx, this.ref, this.label, spec, this.desired, this.memory, this.takeover(spec));
      this.memory = out.memory;
      if (out.evaluation.reason === 'takeover-hold') this.takeoverRecorded = true;
      result = out.evaluation;
      if (out.evaluation.changed) this.desired = out.evaluation.to;
      if (!out.quiet) this.poke(this.ctx.tickMs);
    } catch (err) {
      if (this.goneOn(err)) return null;
      this.ctx.log.error('policy evaluation failed', { function: this.label, error: err instanceof Error ? err.message : String(err) });
      this.poke(this.ctx.tickMs);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      await this.evaluate();
    }
    return result;
  }

  /**
   * At zero with `scale.zero` and nothing waiting: the idler put it there, and only a wake (a
   * request) brings it back. Its kind's min is where a wake starts, not a floor to top up to:
   * topping up would undo the idler every tick. With min 0 no floor can: the policy runs.
   */
  private asleep(): boolean {
    if (this.desired !== 0 || this.scaling?.scaleToZero !== true || this.scaling.minReplicas === 0) return false;
    const waiting = this.ctx.dispatcher.queued(this.ref);
    return waiting.busy + waiting.no_replica === 0;
  }

  /** Sets the idle deadline (last activity + zero-duration) when the function may go to zero and none is set. */
  armIdle(): void {
    const policy = this.scaling;
    if (policy === null || !policy.scaleToZero || this.desired === 0 || !this.decides()) return;
    if (this.ctx.timers.dueAt(`idle:${this.key}`) !== undefined) return;
    this.idleAt(this.lastSeen() + policy.zeroDurationMs);
  }

  /**
   * Whether this gateway decides for the function now (the leader; the owner once functions
   * are sharded). Notes when it starts to (`adoptedAt`) and forgets it when it does not.
   */
  private decides(): boolean {
    const owns = this.ctx.owns(this.ref);
    if (!owns) this.adoptedAt = null;
    else if (this.adoptedAt === null) this.handedOver(this.ctx.clock.now());
    return owns;
  }

  /** Who decides changed (start-up, ownership moved): this gateway decides from `at` (a new takeover), or not (null). */
  handedOver(at: number | null): void {
    this.adoptedAt = at;
    this.takeoverRecorded = false;
  }

  /** The takeover guard of this evaluation: scale-downs held until adoptedAt + the kind's window. */
  private takeover(spec: PolicySpec): TakeoverGate | null {
    const at = this.adoptedAt;
    return at === null ? null : { adoptedAt: at, until: at + takeoverWindowMs(spec), record: !this.takeoverRecorded };
  }

  /** The idle clock's start: the last call this gateway saw, and never before it started deciding. */
  private lastSeen(): number {
    return Math.max(this.ctx.activity.lastActivity(this.ref), this.adoptedAt ?? Number.NEGATIVE_INFINITY);
  }

  private idleAt(at: number): void {
    this.ctx.timers.set(`idle:${this.key}`, at, () => this.ctx.spawn(this.checkIdle()));
  }

  /**
   * The idle deadline: scales the function to zero through the change cycle (source `idler`,
   * src/policy/idle.ts) when nothing happened for its zero-duration and the idle source
   * agrees; else sets the next deadline. Resolves true once scaled to zero and drained.
   */
  async checkIdle(): Promise<boolean> {
    const { timers, activity, clock, changer, log } = this.ctx;
    timers.cancel(`idle:${this.key}`);
    const policy = this.scaling;
    if (policy === null || !policy.scaleToZero || this.desired === 0 || !this.decides()) return false;
    const { ref } = this;
    const seen = activity.lastActivity(ref);
    const last = this.lastSeen();
    const now = clock.now();
    if (activity.inflightOf(ref) > 0) return this.rearm(now + policy.zeroDurationMs);
    if (last + policy.zeroDurationMs > now) return this.rearm(last + policy.zeroDurationMs);
    const idleness = await this.ctx.idleSource.idleness(ref, policy.zeroDurationMs);
    if (idleness !== 'idle') return this.rearm(clock.now() + this.ctx.idleRecheckMs);
    try {
      // Decided again under the lock: a request may have arrived while the source answered.
      const outcome = await changer.change(ref, 'idler', ({ state, policy: current }) =>
        decideIdle({ current: state.desired, policy: current, idleness, inFlight: activity.inflightOf(ref), activitySince: activity.lastActivity(ref) !== seen, idleMs: activity.idleMs(ref) }),
      );
      if (!outcome.changed) return this.rearm(Math.max(clock.now(), activity.lastActivity(ref)) + policy.zeroDurationMs);
      this.desired = outcome.to;
      await outcome.settled;
      return true;
    } catch (err) {
      if (this.goneOn(err)) return false;
      log.warn('idle scale-down failed', { function: this.label, error: err instanceof Error ? err.message : String(err), retryMs: this.ctx.idleRecheckMs });
      return this.rearm(clock.now() + this.ctx.idleRecheckMs);
    }
  }

  /** The provider no longer knows the function (deleted): its scaler goes, nothing is retried. */
  private goneOn(err: unknown): boolean {
    if (!isAppError(err, 'FUNCTION_UNKNOWN')) return false;
    this.ctx.log.info('function gone', { function: this.label });
    this.ctx.gone(this);
    return true;
  }

  private rearm(at: number): false {
    this.idleAt(at);
    return false;
  }

  /** Sets the replica-state gauges from the dispatcher's counts (at scrape time), those that changed. */
  reportReplicas(): void {
    reportReplicaStates(this.ctx.metrics, this.label, this.ctx.dispatcher.replicaCounts(this.ref), (this.reported ??= unreported()));
  }

  /** The spec changed: its settings gauges follow, and invalid labels are logged once per change. */
  private reportSpec(): void {
    const parsed = this.parsed;
    const problems = parsed === undefined || parsed.spec.ok ? [] : parsed.spec.problems;
    const said = problems.join('\n');
    if (said !== '' && said !== this.problems) this.ctx.log.warn('policy labels invalid', { function: this.label, problems });
    this.problems = said;
    const spec = this.spec;
    const settings = spec === null ? {} : policySettings(spec);
    const { policySetting } = this.ctx.metrics;
    for (const name of this.settings) if (!(name in settings)) policySetting.remove({ function_name: this.label, setting: name });
    for (const [name, value] of Object.entries(settings)) policySetting.set({ function_name: this.label, setting: name }, value);
    this.settings = Object.keys(settings);
  }

  /** This gateway no longer decides for the function (its bucket moved): its due times go (the next owner has its own), and a return is a new takeover. */
  disown(): void {
    this.ctx.timers.cancel(`tick:${this.key}`);
    this.ctx.timers.cancel(`idle:${this.key}`);
    this.handedOver(null);
  }

  /** The function is gone: its due times and series go too. */
  forget(): void {
    const { metrics, policies } = this.ctx;
    this.disown();
    policies.forget(this.key);
    this.ctx.remote?.forget(this.label);
    removeReplicaStates(metrics, this.label, (this.reported ??= unreported()));
    for (const name of this.settings) metrics.policySetting.remove({ function_name: this.label, setting: name });
  }
}
