import { isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { AlertBatch, decideScaleDown, type AlertBatchDecision, type AlertDecision, type AlertReason, type AlertState, type AlertTiming } from '../policy/alert-step.js';
import type { ScalingPolicy } from '../policy/labels.js';
import { parseFunctionRef, refKey, type FunctionRef } from '../providers/types.js';
import type { ChangeResult, Scaler } from '../scaling/scaler.js';
import type { AlertStateStore } from './state-store.js';
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
}

type OutcomeFields = Omit<AlertOutcome, 'alertname' | 'fingerprint' | 'status' | 'function'>;

/** The alerts of one notification for one function: their indices in the notification. */
interface AlertGroup {
  readonly ref: FunctionRef;
  readonly indices: number[];
}

const MAX_CONFLICT_RETRIES = 5;
const SCALE_DOWN_RETRY_MS = 5_000;
/** Alerts decided between two turns of the event loop, in a very large group. */
const CHUNK = 500;
/** Functions of one notification handled at once: bounds provider calls in flight. */
const GROUP_CONCURRENCY = 8;

function describe(alert: WebhookAlert): Pick<AlertOutcome, 'alertname' | 'fingerprint' | 'status'> {
  return { alertname: alert.labels['alertname'] ?? '', fingerprint: alert.fingerprint, status: alert.status };
}

export interface AlertScalerOptions {
  readonly scaler: Scaler;
  readonly store: AlertStateStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly timing: AlertTiming;
  readonly defaultNamespace: string;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

/**
 * Applies Alertmanager alerts to functions: firing steps up, resolved schedules the return
 * to min after the function's scale-down window. One notification at a time per function.
 */
export class AlertScaler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: AlertScalerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Re-arms timers for scale-downs pending in the store (after a restart). */
  async start(): Promise<void> {
    for (const { ref, scaleDownAt } of await this.options.store.listPending()) this.schedule(ref, scaleDownAt);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
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

  /** Decides and applies one function's alerts; writes one outcome per alert into `outcomes`. */
  private async applyGroup(group: AlertGroup, alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<void> {
    const { ref, indices } = group;
    const signals = indices.map((i) => {
      const alert = alerts[i] as WebhookAlert;
      return { status: alert.status, fingerprint: alert.fingerprint, startsAt: alert.startsAt };
    });
    const label = this.options.scaler.label(ref);
    let summary: Record<string, unknown>;
    try {
      const done = await this.options.scaler.locked(ref, () =>
        this.decideAndApply(
          ref,
          async (current, policy, state) => {
            const batch = new AlertBatch({ current, policy, state, now: this.now(), timing: this.options.timing });
            for (let start = 0; start < signals.length; start += CHUNK) {
              if (start > 0) await yieldToLoop();
              batch.add(signals.slice(start, start + CHUNK));
            }
            return batch.finish();
          },
          // Steps recorded but not applied are forgotten, so Alertmanager's retry can step.
          (previous, latest) => ({ ...latest, steps: previous.steps }),
          (decision) => ({ ...this.changeFields(decision, indices, alerts), alerts: indices.length, cancelledScaleDown: decision.cancelledScaleDown }),
          (decision) => this.countEvictions(label, decision.evicted),
        ),
      );
      if ('problems' in done) {
        for (const i of indices) outcomes[i] = this.outcome(alerts, i, { outcome: 'skipped', reason: 'invalid-labels', problems: done.problems });
        summary = { outcome: 'skipped', reason: 'invalid-labels', problems: done.problems };
      } else {
        const steps = done.decision.outcomes;
        for (let k = 0; k < indices.length; k++) {
          if (k > 0 && k % CHUNK === 0) await yieldToLoop();
          const index = indices[k] as number;
          const alert = alerts[index] as WebhookAlert;
          const { from, to, reason } = steps[k] ?? { from: done.result.from, to: done.result.to, reason: done.reason };
          // Written out, not spread: this runs once per alert of a flood.
          outcomes[index] = {
            alertname: alert.labels['alertname'] ?? '',
            fingerprint: alert.fingerprint,
            status: alert.status,
            function: alert.labels['function_name'] ?? null,
            outcome: to !== from ? 'applied' : 'unchanged',
            from,
            to,
            reason,
          };
        }
        summary = { outcome: done.result.changed ? 'applied' : 'unchanged', from: done.result.from, to: done.result.to, reason: done.reason };
      }
    } catch (err) {
      const failure = this.failure(ref, err);
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
   * The one read-decide-record-apply cycle, under the function's lock: read the function and
   * its alert state, decide, save the new state (a conflicting save is re-read and decided
   * again), then apply the count. When applying fails, `restore` writes back what the retry
   * needs to find. A `not-due` decision records and applies nothing. `decide` may yield to
   * the event loop (the lock is held); `saved` runs once the decision's state is stored.
   */
  private async decideAndApply<D extends AlertDecision>(
    ref: FunctionRef,
    decide: (current: number, policy: ScalingPolicy, state: AlertState) => D | Promise<D>,
    restore: (previous: AlertState, latest: AlertState) => AlertState,
    logFields: (decision: D) => Record<string, unknown> = () => ({}),
    saved: (decision: D) => void = () => undefined,
  ): Promise<{ readonly problems: readonly string[] } | { readonly reason: AlertReason; readonly decision: D; readonly result: ChangeResult }> {
    const { scaler, store } = this.options;
    for (let attempt = 1; ; attempt++) {
      const current = await scaler.provider.getReplicas(ref);
      const policy = scaler.policyOf(current);
      if (!policy.ok) return { problems: policy.problems };
      const stored = await store.load(ref);
      const decision = await decide(current.desired, policy.policy, stored.state);
      if (decision.reason === 'not-due') {
        if (stored.state.scaleDownAt !== null) this.schedule(ref, stored.state.scaleDownAt);
        return { reason: decision.reason, decision, result: { from: current.desired, to: current.desired, reason: decision.reason, changed: false } };
      }
      try {
        await store.save(ref, decision.state, stored.version);
      } catch (err) {
        if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
      saved(decision);
      if (decision.state.scaleDownAt !== null) this.schedule(ref, decision.state.scaleDownAt);
      else this.cancel(ref);
      try {
        return { reason: decision.reason, decision, result: await scaler.apply(ref, current.desired, decision, 'alert', logFields(decision)) };
      } catch (err) {
        await this.restore(ref, (latest) => restore(stored.state, latest));
        throw err;
      }
    }
  }

  private async restore(ref: FunctionRef, update: (latest: AlertState) => AlertState): Promise<void> {
    try {
      const latest = await this.options.store.load(ref);
      await this.options.store.save(ref, update(latest.state), latest.version);
    } catch (err) {
      this.options.logger.error('alert state restore failed', { function: refKey(ref), error: (err as Error).message });
    }
  }

  private cancel(ref: FunctionRef): void {
    const key = refKey(ref);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  private schedule(ref: FunctionRef, at: number): void {
    if (this.stopped) return;
    this.cancel(ref);
    const timer = setTimeout(() => {
      this.timers.delete(refKey(ref));
      void this.scaleDownDue(ref);
    }, Math.max(0, at - this.now()));
    timer.unref();
    this.timers.set(refKey(ref), timer);
  }

  /** Runs a pending scale-down whose window has passed; a provider failure retries it later. */
  async scaleDownDue(ref: FunctionRef): Promise<void> {
    try {
      const done = await this.options.scaler.locked(ref, () =>
        this.decideAndApply(
          ref,
          (current, policy, state) => decideScaleDown({ current, policy, state, now: this.now(), timing: this.options.timing }),
          // Keep the scale-down pending so the retry still finds it.
          (previous, latest) => ({ ...latest, scaleDownAt: previous.scaleDownAt }),
        ),
      );
      if ('problems' in done) this.options.logger.warn('scale-down dropped', { function: refKey(ref), problems: done.problems });
    } catch (err) {
      if (isAppError(err, 'FUNCTION_UNKNOWN', 'FUNCTION_NOT_ENABLED')) {
        this.options.logger.warn('scale-down dropped', { function: refKey(ref), error: (err as Error).message });
        return;
      }
      this.options.logger.error('scale-down failed, will retry', { function: refKey(ref), error: (err as Error).message, retryMs: SCALE_DOWN_RETRY_MS });
      this.schedule(ref, this.now() + SCALE_DOWN_RETRY_MS);
    }
  }
}
