import type { Clock, TimerHandle } from '../core/clock.js';
import type { TimerHeap } from '../core/timers.js';
import type { Changer } from '../engine/changer.js';
import type { Evaluation } from '../engine/evaluate.js';
import type { KindResult } from '../engine/scalers.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { NotedSignals, SignalNote } from '../policy/alert-signals.js';
import type { AlertTiming } from '../policy/alert-step.js';
import { functionLabel, parseFunctionRef, refKey, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { describe, failureOf, outcomeOf, type AlertGroup, type AlertOutcome, type OutcomeFields } from './outcome.js';
import type { WebhookAlert } from './payload.js';
import { noteOf, roleOf, type AlertSignals } from './signals.js';
import { AlertStateCycle } from './state-cycle.js';
import type { AlertStateStore } from './state-store.js';
import { CHUNK, stepGroup, type StepGroupDeps } from './step-group.js';
import { yieldToLoop } from './yield-to-loop.js';
import { isAlertDriven } from '../policy/index.js';

export type { AlertOutcome } from './outcome.js';

const RPS: KindResult = { ok: true, kind: 'rps' };
type KindOrFailure = KindResult | { readonly ok: 'failed'; readonly error: unknown };
/** Functions of one notification handled at once: bounds provider calls in flight. */
const GROUP_CONCURRENCY = 8;

export interface AlertScalerOptions {
  /** The engine's change cycle: every alert change goes through it (source `alert`). */
  readonly changer: Changer;
  /** The engine's clock. */
  readonly clock: Clock;
  /** The scalers' timer heap: each function's pending scale-down is one due entry on it. */
  readonly timers: TimerHeap;
  readonly store: AlertStateStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly timing: AlertTiming;
  readonly defaultNamespace: string;
  /** Holds and queue values of firing alerts (src/alerts/signals.ts); none are kept when absent. */
  readonly signals?: AlertSignals;
  /**
   * The scalers: a function whose kind is not `rps` has its policy evaluated at once
   * instead of being stepped. Absent: every function is `rps`.
   */
  readonly policy?: PolicyBridge;
  /** Called with each scale-down a due time starts (the simulator follows them); none when absent. */
  readonly track?: (work: Promise<unknown>) => void;
  /** Whether this gateway decides for the function (arms and runs its pending scale-down); always when absent. */
  readonly owns?: (ref: FunctionRef) => boolean;
}

/** What the alert handler needs from the scalers (src/engine/scalers.ts). */
export interface PolicyBridge {
  /** The function's policy kind, or the problems of its labels. Provider errors propagate. */
  kindOf(ref: FunctionRef): Promise<KindResult>;
  /** Evaluates its policy now; null when nothing was evaluated (not the leader, ...). Never rejects. */
  evaluateNow(ref: FunctionRef): Promise<Evaluation | null>;
}

/** How soon a failed read of the pending scale-downs (after a gain of ownership) is tried again, ms. */
export const ADOPT_RETRY_MS = 5_000;

/**
 * Applies Alertmanager alerts to functions: firing steps up, resolved schedules the return
 * to min after the function's scale-down window. One notification at a time per function.
 * Each function's alerts are one change cycle: read → load the alert state → decide
 * (src/policy/alert-step.ts) → save the state (a conflicting save is read and decided
 * again) → apply; when applying fails the state is put back so the retry finds it.
 */
export class AlertScaler {
  /** The alert state's hooks in the change cycle and the pending scale-downs (src/alerts/state-cycle.ts). */
  private readonly cycle: AlertStateCycle;
  private readonly stepDeps: StepGroupDeps;
  /** A read of the pending scale-downs to try again (`adopt`); none when none failed. */
  private adoptRetry: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly options: AlertScalerOptions) {
    const { changer, clock, timers, store, logger, metrics, timing, defaultNamespace, track, owns } = options;
    this.cycle = new AlertStateCycle({ changer, clock, timers, store, logger, timing, ...(track === undefined ? {} : { track }), ...(owns === undefined ? {} : { owns }) });
    this.stepDeps = { changer, cycle: this.cycle, logger, metrics, timing, defaultNamespace, ...(owns === undefined ? {} : { owns }) };
  }

  /**
   * Arms the timers of the scale-downs pending in the store for the functions this gateway
   * decides: at start (after a restart) and after it starts deciding for more (a new leader, a
   * gain of ownership), so a pending window still ends at its stored time after a move.
   */
  async start(): Promise<void> {
    for (const { ref, scaleDownAt } of await this.options.store.listPending()) this.cycle.schedule(ref, scaleDownAt);
  }

  /** `start` after a gain of ownership, never rejecting: a failed read is tried again every ADOPT_RETRY_MS until one succeeds. */
  async adopt(): Promise<void> {
    const { clock, logger } = this.options;
    clock.clearTimeout(this.adoptRetry);
    this.adoptRetry = undefined;
    if (this.stopped) return;
    try {
      await this.start();
    } catch (err) {
      logger.error('pending scale-downs not armed, trying again', { error: err instanceof Error ? err.message : String(err), retryMs: ADOPT_RETRY_MS });
      if (!this.stopped) this.adoptRetry = clock.setTimeout(() => void this.adopt(), ADOPT_RETRY_MS);
    }
  }

  /**
   * Follows the stored alert state as other gateways write it: the pending scale-down's timer
   * follows each state seen (src/alerts/state-cycle.ts `follow`), from the store's own saves
   * (memory) and from provider notifications whose facts carry it (the Kubernetes watch).
   * Returns the unsubscribe.
   */
  follow(provider: ReplicaProvider): () => void {
    const { store } = this.options;
    const offSaved = store.onSaved?.((ref, state) => this.cycle.follow(ref, state));
    const offProvider = provider.subscribe((ref, facts) => {
      // Parsed only where this gateway decides: a notification for another owner's function costs nothing.
      if (store.stateIn === undefined || !(this.options.owns?.(ref) ?? true)) return;
      const state = store.stateIn(ref, facts.annotations);
      if (state !== undefined) this.cycle.follow(ref, state);
    });
    return () => {
      offSaved?.();
      offProvider();
    };
  }

  /** Stops arming scale-downs (the heap's entries go with the scalers). */
  stop(): void {
    this.stopped = true;
    this.options.clock.clearTimeout(this.adoptRetry);
    this.cycle.stop();
  }

  /**
   * Applies every alert of one notification. The alerts are grouped by function in one
   * pass; each function's group is decided as one batch under its lock (one read, one save,
   * one apply), at most GROUP_CONCURRENCY functions at a time, with a turn of the event loop
   * before each. The outcomes keep the order of `alerts`.
   */
  async applyAll(alerts: readonly WebhookAlert[]): Promise<AlertOutcome[]> {
    const outcomes = new Array<AlertOutcome>(alerts.length);
    const groups = new Map<string, AlertGroup>();
    let unlabelled = 0;
    for (let i = 0; i < alerts.length; i++) {
      const alert = alerts[i] as WebhookAlert;
      const name = alert.labels['function_name'];
      if (name === undefined || name === '') {
        outcomes[i] = { ...describe(alert), function: null, outcome: 'skipped', reason: 'no-function-label' };
        unlabelled += 1;
        continue;
      }
      const ref = parseFunctionRef(name, this.options.defaultNamespace);
      const key = refKey(ref);
      const group = groups.get(key) ?? { ref, indices: [] };
      group.indices.push(i);
      groups.set(key, group);
    }
    if (unlabelled > 0) this.options.logger.warn('alerts skipped', { alerts: unlabelled, reason: 'no-function-label' });

    const queue = [...groups.values()];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let group = queue[next++]; group !== undefined; group = queue[next++]) {
        await yieldToLoop();
        await this.applyGroup(group, alerts, outcomes);
      }
    };
    await Promise.all(Array.from({ length: Math.min(GROUP_CONCURRENCY, queue.length) }, worker));

    const tally = new Map<AlertOutcome['outcome'], number>();
    for (const outcome of outcomes) tally.set(outcome.outcome, (tally.get(outcome.outcome) ?? 0) + 1);
    for (const [outcome, count] of tally) this.options.metrics.webhookAlerts.inc({ outcome }, count);
    return outcomes;
  }

  /**
   * One function's alerts: hold alerts are noted (never stepped); the others step an `rps`
   * function, or evaluate another kind's policy at once. A hold ending lets a scale-down
   * held meanwhile run now.
   */
  private async applyGroup(group: AlertGroup, alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<void> {
    const { ref } = group;
    const indices: number[] = [];
    const holds: number[] = [];
    const notes: SignalNote[] = [];
    for (let k = 0; k < group.indices.length; k++) {
      if (k > 0 && k % CHUNK === 0) await yieldToLoop();
      const index = group.indices[k] as number;
      const alert = alerts[index] as WebhookAlert;
      const note = this.options.signals === undefined ? null : noteOf(alert);
      if (note !== null) notes.push(note);
      if (roleOf(alert) === 'hold') {
        holds.push(index);
        outcomes[index] = outcomeOf(alerts, index, { outcome: 'unchanged', reason: alert.status === 'firing' ? 'hold' : 'hold-released' });
      } else indices.push(index);
    }
    const noted = await this.note(ref, notes, holds, alerts, outcomes);
    const kind = indices.length === 0 ? null : await this.kindOf(ref);
    if (kind !== null && kind.ok === 'failed') {
      const failure = failureOf(ref, kind.error);
      for (const i of indices) outcomes[i] = outcomeOf(alerts, i, failure);
      this.options.logger.error('alerts failed', { function: functionLabel(ref, this.options.defaultNamespace), alerts: indices.length, ...failure });
    } else if (kind === null || (kind.ok && isAlertDriven(kind.kind))) {
      if (indices.length > 0) await stepGroup(this.stepDeps, { ref, indices }, alerts, outcomes);
    } else await this.evaluateGroup({ ref, indices }, kind, alerts, outcomes);
    if (noted !== null && noted.heldBefore.length > 0 && noted.heldAfter.length === 0) await this.released(ref);
  }

  /**
   * Persists the group's holds and values in the function's stored state (one versioned
   * write; none when nothing changed), before its other alerts are decided, so a value is
   * there when the policy looks. When that fails, the hold alerts fail (503: Alertmanager sends
   * them again); the others go on. Null when nothing was noted.
   */
  private async note(ref: FunctionRef, notes: readonly SignalNote[], holds: readonly number[], alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<NotedSignals | null> {
    const { signals } = this.options;
    if (signals === undefined || notes.length === 0) return null;
    try {
      return await signals.note(ref, notes);
    } catch (err) {
      const failure = failureOf(ref, err);
      for (const i of holds) outcomes[i] = outcomeOf(alerts, i, failure);
      const log = { function: functionLabel(ref, this.options.defaultNamespace), alerts: notes.length, ...failure };
      if (failure.outcome === 'failed') this.options.logger.error('alert signals not stored', log);
      else this.options.logger.warn('alert signals not stored', log);
      return null;
    }
  }

  /**
   * The function's kind (`rps` without scalers); a provider error reading it is the alerts'
   * outcome (`failed` answers 503 so Alertmanager retries; an unknown function is `skipped`).
   */
  private async kindOf(ref: FunctionRef): Promise<KindOrFailure> {
    const { policy } = this.options;
    if (policy === undefined) return RPS;
    try {
      return await policy.kindOf(ref);
    } catch (err) {
      return { ok: 'failed', error: err };
    }
  }

  /** Alerts for a function of another kind: its policy decides, now (a value alert's queue is already noted). */
  private async evaluateGroup(group: AlertGroup, result: KindResult, alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<void> {
    const label = functionLabel(group.ref, this.options.defaultNamespace);
    if (!result.ok) {
      for (const i of group.indices) outcomes[i] = outcomeOf(alerts, i, { outcome: 'skipped', reason: 'invalid-labels', problems: result.problems });
      this.options.logger.warn('alerts skipped', { function: label, alerts: group.indices.length, reason: 'invalid-labels', problems: result.problems });
      return;
    }
    const { kind } = result;
    const done = await this.options.policy?.evaluateNow(group.ref);
    const fields: OutcomeFields =
      done === null || done === undefined ? { outcome: 'unchanged', reason: 'policy-not-evaluated' } : { outcome: done.changed ? 'applied' : 'unchanged', from: done.from, to: done.to, reason: done.reason };
    for (const i of group.indices) outcomes[i] = outcomeOf(alerts, i, fields);
    this.options.logger.info('alerts handled', { function: label, alerts: group.indices.length, kind, ...fields });
  }

  /** The last hold of `ref` ended: a pending alert scale-down runs now if due; the policy looks again. */
  private async released(ref: FunctionRef): Promise<void> {
    this.options.logger.info('hold released', { function: functionLabel(ref, this.options.defaultNamespace) });
    try {
      const { scaleDownAt } = (await this.options.store.load(ref)).state;
      if (scaleDownAt !== null) this.cycle.schedule(ref, scaleDownAt);
    } catch (err) {
      this.options.logger.error('alert state load failed', { function: refKey(ref), error: err instanceof Error ? err.message : String(err) });
    }
    void this.options.policy?.evaluateNow(ref);
  }

  /**
   * Runs a pending scale-down whose window has passed, through the change cycle, and waits
   * for its drain; a provider failure retries it later.
   */
  scaleDownDue(ref: FunctionRef): Promise<void> {
    return this.cycle.scaleDownDue(ref);
  }
}
