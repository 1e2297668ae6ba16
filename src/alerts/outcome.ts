import type { FunctionRef } from '../core/ref.js';
import { isAppError } from '../errors.js';
import { refKey } from '../providers/types.js';
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
  /** True when the decision was recorded in a dry run and not applied. */
  readonly dryRun?: boolean;
}

/** An outcome without what names its alert (the same for every alert of a group). */
export type OutcomeFields = Omit<AlertOutcome, 'alertname' | 'fingerprint' | 'status' | 'function'>;

/** The alerts of one notification for one function: their indices in the notification. */
export interface AlertGroup {
  readonly ref: FunctionRef;
  readonly indices: number[];
}

/** What names an alert in its outcome. */
export function describe(alert: WebhookAlert): Pick<AlertOutcome, 'alertname' | 'fingerprint' | 'status'> {
  return { alertname: alert.labels['alertname'] ?? '', fingerprint: alert.fingerprint, status: alert.status };
}

/** The outcome of `alerts[index]`: its names and `result`. */
export function outcomeOf(alerts: readonly WebhookAlert[], index: number, result: OutcomeFields): AlertOutcome {
  const alert = alerts[index] as WebhookAlert;
  return { ...describe(alert), function: alert.labels['function_name'] ?? null, ...result };
}

/**
 * The outcome of an error reaching `ref`: an unknown or not enabled function is `skipped`;
 * anything else is `failed` (a provider error: the webhook answers 503 so Alertmanager retries).
 */
export function failureOf(ref: FunctionRef, err: unknown): OutcomeFields {
  if (isAppError(err, 'FUNCTION_UNKNOWN')) return { outcome: 'skipped', reason: 'unknown-function', error: err.message };
  if (isAppError(err, 'FUNCTION_NOT_ENABLED')) return { outcome: 'skipped', reason: 'not-enabled', error: err.message };
  const message = err instanceof Error ? err.message : String(err);
  const code = isAppError(err) ? err.code : 'PROVIDER_FAILED';
  return { outcome: 'failed', reason: 'provider-error', error: `${code}: ${message} (${refKey(ref)})` };
}

/** The `problems` of a LABELS_INVALID error's details. */
export function problemsOf(details: Readonly<Record<string, unknown>> | undefined): readonly string[] {
  const problems = details?.['problems'];
  return Array.isArray(problems) ? problems.map(String) : [];
}
