import type { Gauge } from 'prom-client';
import type { Metrics } from '../../metrics/registry.js';
import type { RequestLimits } from '../../policy/labels.js';
import type { FunctionRef } from '../../providers/types.js';
import { ReplicaTable, type GatewayShard } from '../replicas.js';
import { capacity } from './pick.js';
import type { Entry, EntryGauges } from './types.js';

/** What a new entry needs from the dispatcher. */
export interface EntrySettings {
  readonly metrics: Metrics;
  /** Limits until the function's labels are read. */
  readonly defaults: RequestLimits;
  readonly shard: GatewayShard;
}

/**
 * A function's queue gauges. Children (each holds its own bound methods, about 400 bytes) are
 * made at the first non-zero value and kept for the hot path; until then the zero series are
 * set through the metric, so an idle function keeps no child object.
 */
class QueueGauges implements EntryGauges {
  private children: { readonly noReplica: Gauge.Internal<'function_name' | 'reason'>; readonly busy: Gauge.Internal<'function_name' | 'reason'>; readonly held: Gauge.Internal<'function_name'> } | undefined;
  private oldestChild: Gauge.Internal<'function_name'> | undefined;
  /** The last age set (undefined before the first scrape). */
  private oldestReported: number | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly label: string,
  ) {}

  queue(noReplica: number, busy: number): void {
    const { queueLength, heldRequests } = this.metrics;
    if (this.children === undefined) {
      if (noReplica === 0 && busy === 0) {
        queueLength.set({ function_name: this.label, reason: 'no_replica' }, 0);
        queueLength.set({ function_name: this.label, reason: 'busy' }, 0);
        heldRequests.set({ function_name: this.label }, 0);
        return;
      }
      this.children = {
        noReplica: queueLength.labels({ function_name: this.label, reason: 'no_replica' }),
        busy: queueLength.labels({ function_name: this.label, reason: 'busy' }),
        held: heldRequests.labels({ function_name: this.label }),
      };
    }
    this.children.noReplica.set(noReplica);
    this.children.held.set(noReplica);
    this.children.busy.set(busy);
  }

  oldest(seconds: number): void {
    // Set at every scrape for every function: an unchanged value (0 for an idle one) is not set again.
    if (seconds === this.oldestReported) return;
    this.oldestReported = seconds;
    if (this.oldestChild === undefined && seconds === 0) {
      this.metrics.queueOldestWaitSeconds.set({ function_name: this.label }, 0);
      return;
    }
    this.oldestChild ??= this.metrics.queueOldestWaitSeconds.labels({ function_name: this.label });
    this.oldestChild.set(seconds);
  }
}

/**
 * A function's entry with an empty table and queue, its gauge children made on first use; `now`
 * (clock ms) starts its load integral. The caller fills the table (`merge`).
 */
export function createEntry(ref: FunctionRef, label: string, now: number, settings: EntrySettings): Entry {
  // The table asks its entry for capacities and suspects; it is filled once the entry exists.
  const owner: { entry?: Entry } = {};
  const replicas = new ReplicaTable({
    capacity: (replica) => (owner.entry === undefined ? 0 : capacity(owner.entry, replica)),
    excluded: (replica) => owner.entry !== undefined && owner.entry.suspects.size > 0 && owner.entry.suspects.has(replica.id),
  });
  const entry: Entry = {
    ref: { name: ref.name, namespace: ref.namespace },
    replicas,
    shard: settings.shard,
    incremental: false,
    suspects: new Map(),
    queue: [],
    desired: null,
    limits: { ok: true, limits: settings.defaults },
    wakeRaised: false,
    wakeStartedAt: null,
    reportedEmpty: false,
    present: 0,
    arrivals: 0,
    forwards: 0,
    area: 0,
    areaAt: now,
    label,
    gauges: new QueueGauges(settings.metrics, label),
  };
  owner.entry = entry;
  return entry;
}
