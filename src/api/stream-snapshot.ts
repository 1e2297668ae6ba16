import type { AlertStateStore } from '../alerts/state-store.js';
import type { Dispatcher } from '../engine/dispatcher.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { SpecDefaults } from '../policy/spec.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaProvider, type ReplicaState } from '../providers/types.js';
import type { CallTotals } from './history.js';
import type { HistoryRecorder } from './history-recorder.js';
import { functionDetail, type FunctionDetail } from './status.js';
import { alertsView, NO_ALERTS, operatorView, type AlertsView, type OperatorView } from './status-live.js';

/** The window the request rate is measured over, ms. */
export const RATE_WINDOW_MS = 10_000;

/** One function as the stream (and the page) shows it: the OpenFaaS fields, the rate, the detail, the operator view. */
export interface FunctionSnapshot extends FunctionDetail, OperatorView {
  readonly name: string;
  readonly namespace: string;
  readonly replicas: number;
  readonly availableReplicas: number;
  readonly invocationCount: number;
  /** Calls per second through this gateway over the last RATE_WINDOW_MS (less right after start). */
  readonly requestsPerSecond: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** What a snapshot is read from (the stream's options). */
export interface SnapshotSources {
  readonly provider: ReplicaProvider;
  readonly dispatcher: Pick<Dispatcher, 'replicas' | 'stats' | 'waiting'>;
  readonly metrics: Metrics;
  readonly specDefaults: SpecDefaults;
  readonly defaultNamespace: string;
  /** Each function's last 15 minutes and p95 (`history` and `point` events); none when absent. Stopped by the stream's `close()`. */
  readonly recorder?: HistoryRecorder;
  /** Where the alert state is read (firing alerts, holds, pending scale-down); none shown when absent. */
  readonly alerts?: { readonly store: Pick<AlertStateStore, 'load'>; readonly staleMs: number };
  /** A function's stored async calls (`asyncQueueLength`); absent when async invocations are off. */
  readonly asyncBacklog?: ((ref: FunctionRef) => number) | undefined;
}

/** A function the stream follows: its last facts, the JSON last sent, its rate samples. */
export interface Known {
  readonly ref: FunctionRef;
  state: ReplicaState;
  /** The JSON last sent; a snapshot is sent only when it differs. */
  sent: string;
  /** Invocation counts sampled at each pass: [time ms, count], oldest first, within the rate window. */
  samples: Array<readonly [number, number]>;
}

/** What one pass reads once for every function: the call totals (by label) and the alert views (by ref key). */
export interface PassData {
  readonly totals: ReadonlyMap<string, CallTotals>;
  readonly alerts: ReadonlyMap<string, AlertsView>;
}

/** Reads the call totals, and each known function's alerts (from the store, one at a time; an unreadable one shows none). */
export async function readPassData(known: ReadonlyMap<string, Known>, sources: SnapshotSources, log: Logger): Promise<PassData> {
  const totals = new Map<string, CallTotals>();
  for (const k of known.values()) {
    const label = functionLabel(k.ref, sources.defaultNamespace);
    const t = sources.metrics.callTotals.get(label);
    if (t !== undefined) totals.set(label, t);
  }
  const alerts = new Map<string, AlertsView>();
  const source = sources.alerts;
  if (source !== undefined) {
    for (const [key, k] of known) {
      try {
        alerts.set(key, alertsView((await source.store.load(k.ref)).state, Date.now(), source.staleMs));
      } catch (err) {
        log.debug('stream alert state unread', { function: refKey(k.ref), error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  return { totals, alerts };
}

/** One function's snapshot now; appends a rate sample to `known`. */
export function snapshotOf(known: Known, data: PassData, sources: SnapshotSources): FunctionSnapshot {
  const { ref, state } = known;
  const totals = data.totals.get(functionLabel(ref, sources.defaultNamespace));
  const invocationCount = totals?.calls ?? 0;
  const now = Date.now();
  known.samples.push([now, invocationCount]);
  while (known.samples.length > 2 && now - (known.samples[1]?.[0] ?? now) >= RATE_WINDOW_MS) known.samples.shift();
  const [t0, c0] = known.samples[0] ?? [now, invocationCount];
  const requestsPerSecond = now - t0 < 1000 ? 0 : Math.round(((invocationCount - c0) * 1000 * 100) / (now - t0)) / 100;
  const detail = functionDetail({ dispatcher: sources.dispatcher, provider: sources.provider, specDefaults: sources.specDefaults, asyncBacklog: sources.asyncBacklog }, ref, state);
  const alerts = data.alerts.get(refKey(ref)) ?? NO_ALERTS;
  const latencyP95Ms = sources.recorder?.p95Ms(ref) ?? null;
  const operator = operatorView({ desired: state.desired, ready: state.ready, queueLength: detail.queueLength, policy: detail.policy, totals, latencyP95Ms, alerts });
  return {
    name: ref.name,
    namespace: ref.namespace,
    replicas: state.desired,
    availableReplicas: state.ready,
    invocationCount,
    requestsPerSecond,
    labels: state.labels,
    ...detail,
    ...operator,
  };
}
