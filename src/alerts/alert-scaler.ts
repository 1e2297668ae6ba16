import { isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { decideAlert, decideScaleDown, type AlertDecision, type AlertReason, type AlertState, type AlertTiming } from '../policy/alert-step.js';
import type { ScalingPolicy } from '../policy/labels.js';
import { parseFunctionRef, refKey, type FunctionRef } from '../providers/types.js';
import type { ChangeResult, Scaler } from '../scaling/scaler.js';
import type { AlertStateStore } from './state-store.js';
import type { WebhookAlert } from './payload.js';

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

const MAX_CONFLICT_RETRIES = 5;
const SCALE_DOWN_RETRY_MS = 5_000;

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
 * to min after the function's scale-down window. One alert at a time per function.
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

  /** Applies every alert of one notification; alerts for different functions run concurrently. */
  async applyAll(alerts: readonly WebhookAlert[]): Promise<AlertOutcome[]> {
    const outcomes = await Promise.all(alerts.map((alert) => this.apply(alert)));
    for (const outcome of outcomes) this.options.metrics.webhookAlerts.inc({ outcome: outcome.outcome });
    return outcomes;
  }

  private async apply(alert: WebhookAlert): Promise<AlertOutcome> {
    const base = {
      alertname: alert.labels['alertname'] ?? '',
      fingerprint: alert.fingerprint,
      status: alert.status,
    };
    const name = alert.labels['function_name'];
    if (name === undefined || name === '') {
      return { ...base, function: null, outcome: 'skipped', reason: 'no-function-label' };
    }
    const ref = parseFunctionRef(name, this.options.defaultNamespace);
    const outcome = await this.options.scaler.locked(ref, () => this.applyLocked(ref, alert)).catch((err: unknown) => this.failure(ref, err));
    const result: AlertOutcome = { ...base, function: name, ...outcome };
    const log = { function: name, alertname: base.alertname, fingerprint: base.fingerprint, status: base.status, ...outcome };
    if (result.outcome === 'failed') this.options.logger.error('alert failed', log);
    else if (result.outcome === 'skipped') this.options.logger.warn('alert skipped', log);
    else this.options.logger.info('alert handled', log);
    return result;
  }

  private failure(ref: FunctionRef, err: unknown): Omit<AlertOutcome, 'alertname' | 'fingerprint' | 'status' | 'function'> {
    if (isAppError(err, 'FUNCTION_UNKNOWN')) return { outcome: 'skipped', reason: 'unknown-function', error: err.message };
    if (isAppError(err, 'FUNCTION_NOT_ENABLED')) return { outcome: 'skipped', reason: 'not-enabled', error: err.message };
    const message = err instanceof Error ? err.message : String(err);
    const code = isAppError(err) ? err.code : 'PROVIDER_FAILED';
    return { outcome: 'failed', reason: 'provider-error', error: `${code}: ${message} (${refKey(ref)})` };
  }

  private async applyLocked(ref: FunctionRef, alert: WebhookAlert): Promise<Omit<AlertOutcome, 'alertname' | 'fingerprint' | 'status' | 'function'>> {
    const signal = { status: alert.status, fingerprint: alert.fingerprint, startsAt: alert.startsAt };
    const done = await this.decideAndApply(
      ref,
      (current, policy, state) => decideAlert({ current, policy, state, signal, now: this.now(), timing: this.options.timing }),
      // A step recorded but not applied is forgotten, so Alertmanager's retry can step.
      (previous, latest) => ({ ...latest, steps: previous.steps }),
      (decision) => ({ alertname: alert.labels['alertname'], fingerprint: alert.fingerprint, cancelledScaleDown: decision.cancelledScaleDown }),
    );
    if ('problems' in done) return { outcome: 'skipped', reason: 'invalid-labels', problems: done.problems };
    const outcome = done.result.changed ? ('applied' as const) : ('unchanged' as const);
    return { outcome, from: done.result.from, to: done.result.to, reason: done.reason };
  }

  /**
   * The one read-decide-record-apply cycle, under the function's lock: read the function and
   * its alert state, decide, save the new state (a conflicting save is re-read and decided
   * again), then apply the count. When applying fails, `restore` writes back what the retry
   * needs to find. A `not-due` decision records and applies nothing.
   */
  private async decideAndApply(
    ref: FunctionRef,
    decide: (current: number, policy: ScalingPolicy, state: AlertState) => AlertDecision,
    restore: (previous: AlertState, latest: AlertState) => AlertState,
    logFields: (decision: AlertDecision) => Record<string, unknown> = () => ({}),
  ): Promise<{ readonly problems: readonly string[] } | { readonly reason: AlertReason; readonly result: ChangeResult }> {
    const { scaler, store } = this.options;
    for (let attempt = 1; ; attempt++) {
      const current = await scaler.provider.getReplicas(ref);
      const policy = scaler.policyOf(current);
      if (!policy.ok) return { problems: policy.problems };
      const stored = await store.load(ref);
      const decision = decide(current.desired, policy.policy, stored.state);
      if (decision.reason === 'not-due') {
        if (stored.state.scaleDownAt !== null) this.schedule(ref, stored.state.scaleDownAt);
        return { reason: decision.reason, result: { from: current.desired, to: current.desired, reason: decision.reason, changed: false } };
      }
      try {
        await store.save(ref, decision.state, stored.version);
      } catch (err) {
        if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
      if (decision.state.scaleDownAt !== null) this.schedule(ref, decision.state.scaleDownAt);
      else this.cancel(ref);
      try {
        return { reason: decision.reason, result: await scaler.apply(ref, current.desired, decision, 'alert', logFields(decision)) };
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
