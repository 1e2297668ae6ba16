import type { Clock } from '../core/clock.js';
import type { TimerHeap } from '../core/timers.js';
import type { ChangeHooks, Changer, Decide, Decision } from '../engine/changer.js';
import type { Evaluation } from '../engine/evaluate.js';
import type { KindResult } from '../engine/scalers.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { AlertBatch, decideScaleDown, type AlertBatchDecision, type AlertDecision, type AlertState, type AlertTiming } from '../policy/alert-step.js';
import { isAlertDriven } from '../policy/index.js';
import { functionLabel, parseFunctionRef, refKey, type FunctionRef } from '../providers/types.js';
import type { AlertSignals } from './signals.js';
import type { AlertStateStore, VersionedAlertState } from './state-store.js';
import type { WebhookAlert } from './payload.js';
import { yieldToLoop } from './yield-to-loop.js';

/** What happened to one alert. `failed` means a provider error: Alertmanager should retry. */
export interface AlertOutcome {
  readonly alertname: string;
  readonly fingerprint: string;
  readonly status: 'firing' | 'resolved';
  readonly function: string | null;
  readonly outcome: 'applied' | 'unchanged' | 'skipped' | 'failed';
  readonly from?: number;
  readonly to?: number;
  readonly reason: string;
  readonly problems?: readonly string[];
  readonly error?: string;
  /** True when the decision was recorded in a dry run and not applied. */
  readonly dryRun?: boolean;
}

type OutcomeFields = Omit<AlertOutcome, 'alertname' | 'fingerprint' | 'status' | 'function'>;

/** The alerts of one notification for one function: their indices in the notification. */
interface AlertGroup {
  readonly ref: FunctionRef;
  readonly indices: number[];
}

const MAX_CONFLICT_ATTEMPTS = 5;
const RPS: KindResult = { ok: true, kind: 'rps' };
type KindOrFailure = KindResult | { readonly ok: 'failed'; readonly error: unknown };
const SCALE_DOWN_RETRY_MS = 5_000;
/** Alerts decided between two turns of the event loop, in a very large group. */
const CHUNK = 500;
/** Functions of one notification handled at once: bounds provider calls in flight. */
const GROUP_CONCURRENCY = 8;

function describe(alert: WebhookAlert): Pick<AlertOutcome, 'alertname' | 'fingerprint' | 'status'> {
  return { alertname: alert.labels['alertname'] ?? '', fingerprint: alert.fingerprint, status: alert.status };
}

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
}

/** What the alert handler needs from the scalers (src/engine/scalers.ts). */
export interface PolicyBridge {
  /** The function's policy kind, or the problems of its labels. Provider errors propagate. */
  kindOf(ref: FunctionRef): Promise<KindResult>;
  /** Evaluates its policy now; null when nothing was evaluated (not the leader, ...). Never rejects. */
  evaluateNow(ref: FunctionRef): Promise<Evaluation | null>;
}

/** An alert decision as the change cycle records it: with what it looked at. */
type Recorded<D extends AlertDecision | AlertBatchDecision> = D & Decision;

/**
 * Applies Alertmanager alerts to functions: firing steps up, resolved schedules the return
 * to min after the function's scale-down window. One notification at a time per function.
 * Each function's alerts are one change cycle: read → load the alert state → decide
 * (src/policy/alert-step.ts) → save the state (a conflicting save is read and decided
 * again) → apply; when applying fails the state is put back so the retry finds it.
 */
export class AlertScaler {
  private stopped = false;

  constructor(private readonly options: AlertScalerOptions) {}

  /** Re-arms timers for scale-downs pending in the store (after a restart). */
  async start(): Promise<void> {
    for (const { ref, scaleDownAt } of await this.options.store.listPending()) this.schedule(ref, scaleDownAt);
  }

  /** Stops arming scale-downs (the heap's entries go with the scalers). */
  stop(): void {
    this.stopped = true;
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
    const { signals } = this.options;
    const heldBefore = signals !== undefined && signals.holding(ref).length > 0;
    const indices: number[] = [];
    for (let k = 0; k < group.indices.length; k++) {
      if (k > 0 && k % CHUNK === 0) await yieldToLoop();
      const index = group.indices[k] as number;
      const alert = alerts[index] as WebhookAlert;
      if (signals?.observe(ref, alert) === 'hold') outcomes[index] = this.outcome(alerts, index, { outcome: 'unchanged', reason: alert.status === 'firing' ? 'hold' : 'hold-released' });
      else indices.push(index);
    }
    const kind = indices.length === 0 ? null : await this.kindOf(ref);
    if (kind !== null && kind.ok === 'failed') {
      const failure = this.failure(ref, kind.error);
      for (const i of indices) outcomes[i] = this.outcome(alerts, i, failure);
      this.options.logger.error('alerts failed', { function: functionLabel(ref, this.options.defaultNamespace), alerts: indices.length, ...failure });
    } else if (kind === null || (kind.ok && isAlertDriven(kind.kind))) {
      if (indices.length > 0) await this.stepGroup({ ref, indices }, alerts, outcomes);
    } else await this.evaluateGroup({ ref, indices }, kind, alerts, outcomes);
    if (heldBefore && signals?.holding(ref).length === 0) await this.released(ref);
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
      for (const i of group.indices) outcomes[i] = this.outcome(alerts, i, { outcome: 'skipped', reason: 'invalid-labels', problems: result.problems });
      this.options.logger.warn('alerts skipped', { function: label, alerts: group.indices.length, reason: 'invalid-labels', problems: result.problems });
      return;
    }
    const { kind } = result;
    const done = await this.options.policy?.evaluateNow(group.ref);
    const fields: OutcomeFields =
      done === null || done === undefined ? { outcome: 'unchanged', reason: 'policy-not-evaluated' } : { outcome: done.changed ? 'applied' : 'unchanged', from: done.from, to: done.to, reason: done.reason };
    for (const i of group.indices) outcomes[i] = this.outcome(alerts, i, fields);
    this.options.logger.info('alerts handled', { function: label, alerts: group.indices.length, kind, ...fields });
  }

  /** The last hold of `ref` ended: a pending alert scale-down runs now if due; the policy looks again. */
  private async released(ref: FunctionRef): Promise<void> {
    this.options.logger.info('hold released', { function: functionLabel(ref, this.options.defaultNamespace) });
    try {
      const { scaleDownAt } = (await this.options.store.load(ref)).state;
      if (scaleDownAt !== null) this.schedule(ref, scaleDownAt);
    } catch (err) {
      this.options.logger.error('alert state load failed', { function: refKey(ref), error: err instanceof Error ? err.message : String(err) });
    }
    void this.options.policy?.evaluateNow(ref);
  }

  /** Decides and applies one function's alerts as one step batch (`rps`); writes one outcome per alert into `outcomes`. */
  private async stepGroup(group: AlertGroup, alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<void> {
    const { ref, indices } = group;
    const signals = indices.map((i) => {
      const alert = alerts[i] as WebhookAlert;
      return { status: alert.status, fingerprint: alert.fingerprint, startsAt: alert.startsAt };
    });
    const label = functionLabel(ref, this.options.defaultNamespace);
    const timing = this.options.timing;
    let summary: Record<string, unknown>;
    try {
      const decide: Decide<Recorded<AlertBatchDecision>, VersionedAlertState> = async ({ state, policy, now, context }) => {
        const batch = new AlertBatch({ current: state.desired, policy, state: context.state, now, timing });
        for (let start = 0; start < signals.length; start += CHUNK) {
          if (start > 0) await yieldToLoop();
          batch.add(signals.slice(start, start + CHUNK));
        }
        const decision = batch.finish();
        return { ...decision, inputs: { alerts: indices.length, ...this.changeFields(decision, indices, alerts), cancelledScaleDown: decision.cancelledScaleDown } };
      };
      const done = await this.options.changer.change(ref, 'alert', decide, {
        ...this.cycle(ref, (decision) => this.countEvictions(label, decision.evicted)),
        // Steps recorded but not applied are forgotten, so Alertmanager's retry can step.
        failed: (_decision, stored, _err, phase) => this.restore(ref, phase, (latest) => ({ ...latest, steps: stored.state.steps })),
        logFields: (decision) => decision.inputs ?? {},
      });
      const steps = done.decision.outcomes;
      for (let k = 0; k < indices.length; k++) {
        if (k > 0 && k % CHUNK === 0) await yieldToLoop();
        const index = indices[k] as number;
        const alert = alerts[index] as WebhookAlert;
        const { from, to, reason } = steps[k] ?? { from: done.from, to: done.to, reason: done.reason };
        // Written out, not spread: this runs once per alert of a flood.
        outcomes[index] = {
          alertname: alert.labels['alertname'] ?? '',
          fingerprint: alert.fingerprint,
          status: alert.status,
          function: alert.labels['function_name'] ?? null,
          outcome: to !== from && done.changed ? 'applied' : 'unchanged',
          from,
          to,
          reason: done.heldBy.length > 0 ? 'hold' : reason,
          ...(done.dryRun ? { dryRun: true } : {}),
        };
      }
      summary = { outcome: done.changed ? 'applied' : 'unchanged', from: done.from, to: done.to, reason: done.reason, ...(done.dryRun ? { dryRun: true } : {}) };
    } catch (err) {
      const failure = isAppError(err, 'LABELS_INVALID') ? { outcome: 'skipped' as const, reason: 'invalid-labels', problems: problemsOf(err.details) } : this.failure(ref, err);
      for (const i of indices) outcomes[i] = this.outcome(alerts, i, failure);
      summary = failure;
    }
    const log = { function: label, alerts: indices.length, ...summary };
    if (summary['outcome'] === 'failed') this.options.logger.error('alerts failed', log);
    else if (summary['outcome'] === 'skipped') this.options.logger.warn('alerts skipped', log);
    else this.options.logger.info('alerts handled', log);
  }

  private outcome(alerts: readonly WebhookAlert[], index: number, result: OutcomeFields): AlertOutcome {
    const alert = alerts[index] as WebhookAlert;
    return { ...describe(alert), function: alert.labels['function_name'] ?? null, ...result };
  }

  /** The alert that first changed the count names the change in its log line and Event. */
  private changeFields(decision: AlertBatchDecision, indices: readonly number[], alerts: readonly WebhookAlert[]): Record<string, unknown> {
    const index = indices[decision.firstChange];
    if (index === undefined) return {};
    const alert = alerts[index] as WebhookAlert;
    return { alertname: alert.labels['alertname'], fingerprint: alert.fingerprint };
  }

  private countEvictions(label: string, evicted: AlertBatchDecision['evicted']): void {
    const { metrics, logger } = this.options;
    if (evicted.firing > 0) metrics.alertStateEvictions.inc({ function_name: label, kind: 'firing' }, evicted.firing);
    if (evicted.steps > 0) metrics.alertStateEvictions.inc({ function_name: label, kind: 'steps' }, evicted.steps);
    if (evicted.firing > 0 || evicted.steps > 0) logger.warn('alert state evicted', { function: label, firing: evicted.firing, steps: evicted.steps });
  }

  private failure(ref: FunctionRef, err: unknown): OutcomeFields {
    if (isAppError(err, 'FUNCTION_UNKNOWN')) return { outcome: 'skipped', reason: 'unknown-function', error: err.message };
    if (isAppError(err, 'FUNCTION_NOT_ENABLED')) return { outcome: 'skipped', reason: 'not-enabled', error: err.message };
    const message = err instanceof Error ? err.message : String(err);
    const code = isAppError(err) ? err.code : 'PROVIDER_FAILED';
    return { outcome: 'failed', reason: 'provider-error', error: `${code}: ${message} (${refKey(ref)})` };
  }

  /**
   * The alert state's part of a change cycle: `load` reads it, `save` stores the decision's
   * state (a PROVIDER_CONFLICT is read and decided again by the cycle) and arms or cancels
   * the scale-down timer. A `not-due` decision saves nothing.
   */
  private cycle<D extends AlertDecision>(ref: FunctionRef, saved: (decision: D) => void = () => undefined): ChangeHooks<D, VersionedAlertState> {
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
  private async restore(ref: FunctionRef, phase: 'apply' | 'settle', update: (latest: AlertState) => AlertState): Promise<void> {
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

  private cancel(ref: FunctionRef): void {
    this.options.timers.cancel(`alert:${refKey(ref)}`);
  }

  private schedule(ref: FunctionRef, at: number): void {
    if (this.stopped) return;
    this.options.timers.set(`alert:${refKey(ref)}`, at, () => {
      const work = this.scaleDownDue(ref);
      this.options.track?.(work);
    });
  }

  /**
   * Runs a pending scale-down whose window has passed, through the change cycle, and waits
   * for its drain; a provider failure retries it later.
   */
  async scaleDownDue(ref: FunctionRef): Promise<void> {
    const timing = this.options.timing;
    try {
      const decide: Decide<Recorded<AlertDecision>, VersionedAlertState> = ({ state, policy, now, context }) => ({
        ...decideScaleDown({ current: state.desired, policy, state: context.state, now, timing }),
        inputs: { scaleDownAt: context.state.scaleDownAt, firing: Object.keys(context.state.firing).length },
      });
      const done = await this.options.changer.change(ref, 'alert', decide, {
        ...this.cycle<Recorded<AlertDecision>>(ref),
        // Keep the scale-down pending so the retry still finds it.
        failed: (_decision, stored, _err, phase) => this.restore(ref, phase, (latest) => ({ ...latest, scaleDownAt: stored.state.scaleDownAt })),
      });
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

/** The `problems` of a LABELS_INVALID error's details. */
function problemsOf(details: Readonly<Record<string, unknown>> | undefined): readonly string[] {
  const problems = details?.['problems'];
  return Array.isArray(problems) ? problems.map(String) : [];
}
