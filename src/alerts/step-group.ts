import type { Changer, ChangeOutcome, Decide } from '../engine/changer.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { AlertBatch, type AlertBatchDecision, type AlertTiming } from '../policy/alert-step.js';
import { functionLabel, type FunctionRef } from '../providers/types.js';
import { failureOf, outcomeOf, problemsOf, type AlertGroup, type AlertOutcome } from './outcome.js';
import type { WebhookAlert } from './payload.js';
import type { AlertStateCycle, Recorded } from './state-cycle.js';
import type { VersionedAlertState } from './state-store.js';
import { yieldToLoop } from './yield-to-loop.js';

/** Alerts decided between two turns of the event loop, in a very large group. */
export const CHUNK = 500;

/** What stepping a group of alerts needs. */
export interface StepGroupDeps {
  /** The engine's change cycle (source `alert`). */
  readonly changer: Changer;
  /** The alert state's hooks in that cycle. */
  readonly cycle: AlertStateCycle;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly timing: AlertTiming;
  readonly defaultNamespace: string;
  /** Whether this gateway decides for a function (its owner); all when absent. A non-owner leaves a reset to min to the owner. */
  readonly owns?: (ref: FunctionRef) => boolean;
}

/**
 * Decides and applies one `rps` function's alerts as one step batch (src/policy/alert-step.ts)
 * in one change cycle: one read, one save, one apply; writes one outcome per alert into
 * `outcomes` and logs the group once.
 */
export async function stepGroup(deps: StepGroupDeps, group: AlertGroup, alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<void> {
  const { ref, indices } = group;
  const label = functionLabel(ref, deps.defaultNamespace);
  let summary: Record<string, unknown>;
  try {
    const done = await storedStep(deps, group, alerts);
    await writeStepOutcomes(done, indices, alerts, outcomes);
    summary = { outcome: done.changed ? 'applied' : 'unchanged', from: done.from, to: done.to, reason: done.reason, ...(done.dryRun ? { dryRun: true } : {}) };
  } catch (err) {
    const failure = isAppError(err, 'LABELS_INVALID') ? { outcome: 'skipped' as const, reason: 'invalid-labels', problems: problemsOf(err.details) } : failureOf(ref, err);
    for (const i of indices) outcomes[i] = outcomeOf(alerts, i, failure);
    summary = failure;
  }
  const log = { function: label, alerts: indices.length, ...summary };
  if (summary['outcome'] === 'failed') deps.logger.error('alerts failed', log);
  else if (summary['outcome'] === 'skipped') deps.logger.warn('alerts skipped', log);
  else deps.logger.info('alerts handled', log);
}

/** Attempts of a group whose state, saved without a count, another writer changed first. */
const STORE_ATTEMPTS = 3;

/**
 * The group's change, its state stored before the webhook answers: a state saved without a
 * count (a resolve that starts the scale-down window) is sent now and waited for; one another
 * writer changed first (PROVIDER_CONFLICT) is decided again on theirs. A count change carries
 * its state: a scale-up's is written, a scale-down's goes with the removal after the drain.
 */
async function storedStep(deps: StepGroupDeps, group: AlertGroup, alerts: readonly WebhookAlert[]): Promise<ChangeOutcome<Recorded<AlertBatchDecision>>> {
  for (let attempt = 1; ; attempt++) {
    const done = await stepChange(deps, group, alerts);
    if (done.changed) return done;
    try {
      await deps.cycle.persisted(group.ref);
      return done;
    } catch (err) {
      if (!isAppError(err, 'PROVIDER_CONFLICT') || attempt >= STORE_ATTEMPTS) throw err;
    }
  }
}

/** The group's change cycle: the batch decided in chunks, the state saved (evictions counted), a failed apply forgets its steps. */
function stepChange(deps: StepGroupDeps, group: AlertGroup, alerts: readonly WebhookAlert[]): Promise<ChangeOutcome<Recorded<AlertBatchDecision>>> {
  const { ref, indices } = group;
  const { timing, cycle } = deps;
  const signals = indices.map((i) => {
    const alert = alerts[i] as WebhookAlert;
    return { status: alert.status, fingerprint: alert.fingerprint, startsAt: alert.startsAt };
  });
  // Decided as the owner: a return to min is the owner's alone, and its write is fenced.
  let asOwner = false;
  const decide: Decide<Recorded<AlertBatchDecision>, VersionedAlertState> = async ({ state, policy, now, context }) => {
    asOwner = deps.owns?.(ref) ?? true;
    const batch = new AlertBatch({ current: state.desired, policy, state: context.state, now, timing, decides: asOwner });
    for (let start = 0; start < signals.length; start += CHUNK) {
      if (start > 0) await yieldToLoop();
      batch.add(signals.slice(start, start + CHUNK));
    }
    const decision = batch.finish();
    return { ...decision, inputs: { alerts: indices.length, ...changeFields(decision, indices, alerts), cancelledScaleDown: decision.cancelledScaleDown } };
  };
  const label = functionLabel(ref, deps.defaultNamespace);
  return deps.changer.change(ref, 'alert', decide, {
    ...cycle.hooks(ref, (decision: Recorded<AlertBatchDecision>) => countEvictions(deps, label, decision.evicted)),
    // Steps recorded but not applied are forgotten, so Alertmanager's retry can step.
    failed: (_decision, stored, _err, phase) => cycle.restore(ref, phase, (latest) => ({ ...latest, steps: stored.state.steps })),
    logFields: (decision) => decision.inputs ?? {},
    asOwner: () => asOwner,
  });
}

/** One outcome per alert of the group: its own step (from, to, reason) in the batch. */
async function writeStepOutcomes(done: ChangeOutcome<Recorded<AlertBatchDecision>>, indices: readonly number[], alerts: readonly WebhookAlert[], outcomes: AlertOutcome[]): Promise<void> {
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
}

/** The alert that first changed the count names the change in its log line and Event. */
function changeFields(decision: AlertBatchDecision, indices: readonly number[], alerts: readonly WebhookAlert[]): Record<string, unknown> {
  const index = indices[decision.firstChange];
  if (index === undefined) return {};
  const alert = alerts[index] as WebhookAlert;
  return { alertname: alert.labels['alertname'], fingerprint: alert.fingerprint };
}

function countEvictions(deps: StepGroupDeps, label: string, evicted: AlertBatchDecision['evicted']): void {
  const { metrics, logger } = deps;
  if (evicted.firing > 0) metrics.alertStateEvictions.inc({ function_name: label, kind: 'firing' }, evicted.firing);
  if (evicted.steps > 0) metrics.alertStateEvictions.inc({ function_name: label, kind: 'steps' }, evicted.steps);
  if (evicted.firing > 0 || evicted.steps > 0) logger.warn('alert state evicted', { function: label, firing: evicted.firing, steps: evicted.steps });
}
