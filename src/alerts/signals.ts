import type { Clock } from '../core/clock.js';
import type { ScaleDownGuard } from '../policy/cycle.js';
import { ALERT_STATE_MAX_ENTRIES } from '../policy/alert-step.js';
import { refKey, type FunctionRef } from '../providers/types.js';
import type { WebhookAlert } from './payload.js';

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

interface Seen<T> {
  readonly data: T;
  /** Clock ms when it was last seen firing. */
  readonly seen: number;
}

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

/**
 * What firing alerts say about each function besides "step up": the holds
 * (`scale_action="hold"`, by fingerprint, with the alert's name) and the queue lengths
 * (annotation `value`, by fingerprint). A firing alert is kept until it resolves or is not
 * seen again for `staleMs` (Alertmanager re-sends firing alerts every `repeat_interval`);
 * at most ALERT_STATE_MAX_ENTRIES of each per function.
 * Kept in this process's memory: with several gateway replicas, each knows the alerts it
 * received (see the README). It is the changer's ScaleDownGuard.
 */
export class AlertSignals implements ScaleDownGuard {
  private readonly holds = new Map<string, Map<string, Seen<string>>>();
  private readonly values = new Map<string, Map<string, Seen<number>>>();

  /**
   * @param clock the engine's clock.
   * @param staleMs a firing alert not seen again for this long no longer counts, ms.
   */
  constructor(
    private readonly clock: Clock,
    private readonly staleMs: number,
  ) {}

  /** Takes one alert of a notification for `ref` and says what it is. */
  observe(ref: FunctionRef, alert: Pick<WebhookAlert, 'status' | 'fingerprint' | 'labels' | 'annotations'>): AlertRole {
    const key = refKey(ref);
    const now = this.clock.now();
    if (alert.labels[HOLD_LABEL] === HOLD_VALUE) {
      update(this.holds, key, alert.fingerprint, alert.status === 'firing' ? { data: alert.labels['alertname'] ?? alert.fingerprint, seen: now } : null);
      return 'hold';
    }
    const value = parseQueueValue(alert.annotations[VALUE_ANNOTATION]);
    // A resolved alert takes its value away whatever its annotation says now.
    update(this.values, key, alert.fingerprint, alert.status === 'firing' && value !== null ? { data: value, seen: now } : null);
    return value === null ? 'scale' : 'value';
  }

  /** Names of the hold alerts firing for `ref` now (each once); empty when none. */
  holding(ref: FunctionRef): readonly string[] {
    return [...new Set(this.live(this.holds, refKey(ref)).map((s) => s.data))].sort();
  }

  /** Sum of the queue lengths that firing alerts report for `ref`; null when none does. */
  queueValue(ref: FunctionRef): number | null {
    const live = this.live(this.values, refKey(ref));
    return live.length === 0 ? null : live.reduce((sum, s) => sum + s.data, 0);
  }

  private live<T>(from: Map<string, Map<string, Seen<T>>>, key: string): Array<Seen<T>> {
    const byFingerprint = from.get(key);
    if (byFingerprint === undefined) return [];
    const now = this.clock.now();
    for (const [fingerprint, s] of byFingerprint) if (now - s.seen >= this.staleMs) byFingerprint.delete(fingerprint);
    if (byFingerprint.size === 0) from.delete(key);
    return [...byFingerprint.values()];
  }
}

/** Sets (or, with null, removes) one fingerprint's entry of one function. */
function update<T>(from: Map<string, Map<string, Seen<T>>>, key: string, fingerprint: string, entry: Seen<T> | null): void {
  let byFingerprint = from.get(key);
  if (entry === null) {
    byFingerprint?.delete(fingerprint);
    if (byFingerprint?.size === 0) from.delete(key);
    return;
  }
  if (byFingerprint === undefined) {
    byFingerprint = new Map();
    from.set(key, byFingerprint);
  }
  // Bounded as the alert state is: the entry set longest ago goes first.
  if (!byFingerprint.has(fingerprint) && byFingerprint.size >= ALERT_STATE_MAX_ENTRIES) {
    const oldest = byFingerprint.keys().next();
    if (oldest.done !== true) byFingerprint.delete(oldest.value);
  }
  byFingerprint.set(fingerprint, entry);
}
