import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { decideAlert, decideScaleDown, type AlertDecision, type AlertTiming } from '../policy/alert-step.js';
import { parseFunctionRef, refKey, type FunctionRef } from '../providers/types.js';
import type { Scaler } from '../scaling/scaler.js';
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
    for (let attempt = 1; ; attempt++) {
      const current = await this.options.scaler.provider.getReplicas(ref);
      const policy = this.options.scaler.policyOf(current);
      if (!policy.ok) return { outcome: 'skipped', reason: 'invalid-labels', problems: policy.problems };
      const stored = await this.options.store.load(ref);
      const now = this.now();
      const decision = decideAlert({ current: current.desired, policy: policy.policy, state: stored.state, signal, now, timing: this.options.timing });
      try {
        await this.options.store.save(ref, decision.state, stored.version);
      } catch (err) {
        if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
      return this.enact(ref, current.desired, decision, alert, stored.state);
    }
  }

  private async enact(ref: FunctionRef, from: number, decision: AlertDecision, alert: WebhookAlert, previous: AlertDecision['state']) {
    if (decision.state.scaleDownAt !== null) this.schedule(ref, decision.state.scaleDownAt);
    else this.cancel(ref);
    try {
      const result = await this.options.scaler.apply(ref, from, decision, 'alert', {
        alertname: alert.labels['alertname'],
        fingerprint: alert.fingerprint,
        cancelledScaleDown: decision.cancelledScaleDown,
      });
      return { outcome: result.changed ? ('applied' as const) : ('unchanged' as const), from, to: result.to, reason: decision.reason };
    } catch (err) {
      // The step was recorded but not applied: forget it so Alertmanager's retry can step.
      await this.revert(ref, previous);
      throw err;
    }
  }

  private async revert(ref: FunctionRef, previous: AlertDecision['state']): Promise<void> {
    try {
      const stored = await this.options.store.load(ref);
      await this.options.store.save(ref, { ...stored.state, steps: previous.steps }, stored.version);
    } catch (err) {
      this.options.logger.error('alert state revert failed', { function: refKey(ref), error: (err as Error).message });
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

  /** Runs a pending scale-down whose window has passed. */
  async scaleDownDue(ref: FunctionRef): Promise<void> {
    try {
      await this.options.scaler.locked(ref, async () => {
        for (let attempt = 1; ; attempt++) {
          const current = await this.options.scaler.provider.getReplicas(ref);
          const policy = this.options.scaler.policyOf(current);
          if (!policy.ok) throw new AppError('LABELS_INVALID', policy.problems.join('; '));
          const stored = await this.options.store.load(ref);
          const decision = decideScaleDown({ current: current.desired, policy: policy.policy, state: stored.state, now: this.now(), timing: this.options.timing });
          if (decision.reason === 'not-due') {
            if (decision.state.scaleDownAt !== null) this.schedule(ref, decision.state.scaleDownAt);
            return;
          }
          try {
            await this.options.store.save(ref, decision.state, stored.version);
          } catch (err) {
            if (isAppError(err, 'PROVIDER_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) continue;
            throw err;
          }
          try {
            await this.options.scaler.apply(ref, current.desired, decision, 'alert');
          } catch (err) {
            // Keep the scale-down pending so the retry still finds it.
            const again = await this.options.store.load(ref);
            await this.options.store.save(ref, { ...again.state, scaleDownAt: stored.state.scaleDownAt }, again.version);
            throw err;
          }
          return;
        }
      });
    } catch (err) {
      if (isAppError(err, 'FUNCTION_UNKNOWN', 'FUNCTION_NOT_ENABLED', 'LABELS_INVALID')) {
        this.options.logger.warn('scale-down dropped', { function: refKey(ref), error: (err as Error).message });
        return;
      }
      this.options.logger.error('scale-down failed, will retry', { function: refKey(ref), error: (err as Error).message, retryMs: SCALE_DOWN_RETRY_MS });
      this.schedule(ref, this.now() + SCALE_DOWN_RETRY_MS);
    }
  }
}
