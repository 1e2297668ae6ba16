import type { Metrics } from '../../metrics/registry.js';
import type { RequestLimits } from '../../policy/labels.js';
import type { FunctionRef } from '../../providers/types.js';
import { ReplicaTable, type GatewayShard } from '../replicas.js';
import { capacity } from './pick.js';
import type { Entry } from './types.js';

/** What a new entry needs from the dispatcher. */
export interface EntrySettings {
  readonly metrics: Metrics;
  /** Limits until the function's labels are read. */
  readonly defaults: RequestLimits;
  readonly shard: GatewayShard;
}

/**
 * A function's entry with an empty table and queue, its gauge children made once; `now`
 * (clock ms) starts its load integral. The caller fills the table (`merge`).
 */
export function createEntry(ref: FunctionRef, label: string, now: number, settings: EntrySettings): Entry {
  const { queueLength, queueOldestWaitSeconds, heldRequests } = settings.metrics;
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
    area: 0,
    areaAt: now,
    label,
    gauges: {
      noReplica: queueLength.labels({ function_name: label, reason: 'no_replica' }),
      busy: queueLength.labels({ function_name: label, reason: 'busy' }),
      held: heldRequests.labels({ function_name: label }),
      oldest: queueOldestWaitSeconds.labels({ function_name: label }),
    },
  };
  owner.entry = entry;
  return entry;
}
