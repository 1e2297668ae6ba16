import type { Clock } from '../core/clock.js';
import { isAppError } from '../errors.js';
import { liveHolds, liveQueueValue, noteSignals, type NotedSignals, type SignalNote } from '../policy/alert-signals.js';
import type { ScaleDownGuard } from '../policy/cycle.js';
import type { FunctionRef } from '../providers/types.js';
import type { WebhookAlert } from './payload.js';
import type { AlertStateStore } from './state-store.js';

/** An alert labelled `scale_action="hold"` blocks every scale-down of its function while it fires. */
export const HOLD_LABEL = 'scale_action';
export const HOLD_VALUE = 'hold';
/** Annotation whose number is a queue length the gateway cannot see (a broker's depth), for `queue` functions. */
export const VALUE_ANNOTATION = 'value';

/**
 * What an alert is to its function: `hold` (blocks scale-downs, never steps), or `scale`
 * (steps an `rps` function, evaluates any other kind's policy at once); `value` is a
 * `scale` alert whose `value` annotation carries a number.
 */
export type AlertRole = 'hold' | 'value' | 'scale';

/** A plain decimal or exponent number, as Prometheus renders `{{ $value }}` (`12`, `3.5`, `1.2e+06`). */
const NUMBER = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The queue length an annotation carries: a finite number >= 0, else null. */
export function parseQueueValue(text: string | undefined): number | null {
  if (text === undefined) return null;
  const trimmed = text.trim();
  if (!NUMBER.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

/** Writes of the stored state tried when another writer got in between (PROVIDER_CONFLICT). */
const NOTE_ATTEMPTS = 5;

/** What one alert is to its function; pure (the labels and the `value` annotation decide). */
export function roleOf(alert: Pick<WebhookAlert, 'labels' | 'annotations'>): AlertRole {
  if (alert.labels[HOLD_LABEL] === HOLD_VALUE) return 'hold';
  return parseQueueValue(alert.annotations[VALUE_ANNOTATION]) === null ? 'scale' : 'value';
}

/**
 * What an alert notes in the stored state: a hold; a value for an alert that carries the
 * `value` annotation (firing with a number: that number; resolved, or not a number: its value
 * goes); null for an alert without it, which writes nothing (a notification of plain scale
 * alerts costs no state write; a value alert resolved without its annotation counts until stale).
 */
export function noteOf(alert: Pick<WebhookAlert, 'status' | 'fingerprint' | 'labels' | 'annotations'>): SignalNote | null {
  const firing = alert.status === 'firing';
  if (alert.labels[HOLD_LABEL] === HOLD_VALUE) return { kind: 'hold', fingerprint: alert.fingerprint, firing, name: alert.labels['alertname'] ?? alert.fingerprint };
  const text = alert.annotations[VALUE_ANNOTATION];
  if (text === undefined) return null;
  return { kind: 'value', fingerprint: alert.fingerprint, firing, value: parseQueueValue(text) };
}

/**
 * What firing alerts say about each function besides "step up": the holds
 * (`scale_action="hold"`, by fingerprint, with the alert's name) and the queue lengths
 * (annotation `value`, by fingerprint). Persisted with the function, in its alert state
 * (src/policy/alert-signals.ts; the Kubernetes store keeps it in the Deployment's
 * annotation): the gateway that receives a notification writes them through the versioned
 * store, the gateway that decides reads them, so a hold sent to one gateway blocks a
 * scale-down decided by another. A firing alert counts until it resolves or is not seen
 * again for `staleMs` (Alertmanager re-sends firing alerts every `repeat_interval`). It is
 * the changer's ScaleDownGuard; reads go through the store's `load`, which the Kubernetes
 * store serves from its Deployment cache.
 */
export class AlertSignals implements ScaleDownGuard {
  /**
   * @param clock the engine's clock.
   * @param staleMs a firing alert not seen again for this long no longer counts, ms.
   * @param store where the function's alert state lives (shared by every gateway).
   */
  constructor(
    private readonly clock: Clock,
    private readonly staleMs: number,
    private readonly store: AlertStateStore,
  ) {}

  /**
   * Notes `notes` (one function's hold and value alerts of a notification) in its stored
   * state: load, note, save at the loaded version, again on PROVIDER_CONFLICT (at most
   * NOTE_ATTEMPTS); nothing is written when nothing changed. Provider errors propagate (the
   * webhook answers 503 and Alertmanager sends the alerts again).
   */
  async note(ref: FunctionRef, notes: readonly SignalNote[]): Promise<NotedSignals> {
    for (let attempt = 1; ; attempt++) {
      const stored = await this.store.load(ref);
      const noted = noteSignals(stored.state, notes, this.clock.now(), this.staleMs);
      if (!noted.changed) return noted;
      try {
        await this.store.save(ref, noted.state, stored.version);
        // Stored before the webhook answers: a hold acknowledged and then lost would not come again until Alertmanager's repeat interval.
        await this.store.persisted?.(ref);
        return noted;
      } catch (err) {
        if (!isAppError(err, 'PROVIDER_CONFLICT') || attempt >= NOTE_ATTEMPTS) throw err;
      }
    }
  }

  /** Names of the hold alerts firing for `ref` now (each once); empty when none. */
  async holding(ref: FunctionRef): Promise<readonly string[]> {
    return liveHolds((await this.store.load(ref)).state, this.clock.now(), this.staleMs);
  }

  /** Sum of the queue lengths that firing alerts report for `ref`; null when none does. */
  async queueValue(ref: FunctionRef): Promise<number | null> {
    return liveQueueValue((await this.store.load(ref)).state, this.clock.now(), this.staleMs);
  }
}
