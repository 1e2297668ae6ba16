import type { Metrics } from '../metrics/registry.js';
import type { ReplicaCounts } from './replicas.js';

/** The `state` label values of `alert_scaler_replicas`. */
const STATES = ['starting', 'free', 'busy', 'draining'] as const;

/**
 * Sets a function's replica-state gauges at scrape time from the dispatcher's counts, only the
 * counts that changed since the last scrape (a scrape of 10,000 functions would otherwise make
 * 40,000 series entries anew); no child object is kept per series.
 */
export function reportReplicaStates(metrics: Metrics, label: string, counts: ReplicaCounts, reported: number[]): void {
  const values = [counts.starting, counts.free, counts.busy, counts.draining + counts.stopping];
  STATES.forEach((state, i) => {
    const value = values[i] ?? 0;
    if (reported[i] === value) return;
    reported[i] = value;
    metrics.replicasByState.set({ function_name: label, state }, value);
  });
}

/** Removes a function's replica-state series; `reported` is cleared so a later report sets them all. */
export function removeReplicaStates(metrics: Metrics, label: string, reported: number[]): void {
  for (const state of STATES) metrics.replicasByState.remove({ function_name: label, state });
  reported.fill(-1);
}

/** A fresh `reported` for reportReplicaStates: nothing set yet. */
export const unreported = (): number[] => [-1, -1, -1, -1];

/** Scalers whose replica gauges are set between two yields to the event loop. */
export const REPORT_SLICE = 1000;

/**
 * Sets every function's replica-state gauges (a scrape's hook), yielding to the event loop
 * after every REPORT_SLICE functions: at 10,000 functions the walk alone held the loop for tens
 * of ms on a loaded machine. A scaler removed during a yield is not visited (Map iteration
 * skips deleted entries), so its series are not set again after it was forgotten.
 */
export async function reportEvery(scalers: ReadonlyMap<string, { reportReplicas(): void }>): Promise<void> {
  let n = 0;
  for (const scaler of scalers.values()) {
    scaler.reportReplicas();
    if (++n % REPORT_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}
