import type { TimerHandle } from '../../core/clock.js';
import type { RequestLimitsResult } from '../../policy/labels.js';
import type { FunctionRef } from '../../providers/types.js';
import type { GatewayShard, ReplicaTable } from '../replicas.js';
import type { QueueReason, Slot } from '../slot.js';

/** A replica the proxy could not reach, out of rotation until it comes back (see `Dispatcher.suspect`). */
export interface Suspect {
  /** The provider has reported it not ready (or without an address) since it became suspect. */
  sawDown: boolean;
  readonly timer: TimerHandle;
}

/** One request waiting in a function's queue. */
export interface Waiter {
  readonly arrivedAt: number;
  /** What the request waited for when it joined the queue. */
  readonly reason: QueueReason;
  /** The request timeout may not pass this clock ms (a retried call); undefined for a new call. */
  readonly deadlineAt: number | undefined;
  /** Forwarded here by another gateway: never forwarded on (see src/engine/dispatch/forward.ts). */
  readonly local: boolean;
  readonly resolve: (slot: Slot) => void;
  readonly reject: (err: Error) => void;
  readonly cleanup: () => void;
}

/** A function's queue gauges (made by src/engine/dispatch/entry.ts). */
export interface EntryGauges {
  /** Requests held without a replica (also the held-requests gauge) and behind busy replicas. */
  queue(noReplica: number, busy: number): void;
  /** Age of the oldest waiting request, seconds. */
  oldest(seconds: number): void;
}

/** Everything the dispatcher keeps about one function: its replica table, queue, limits, load and gauges. */
export interface Entry {
  readonly ref: FunctionRef;
  readonly replicas: ReplicaTable;
  /** This gateway among those sharing each replica's hard limit (the dispatcher's, shared by all entries). */
  readonly shard: GatewayShard;
  /** The provider sends `ReplicaChanges`, which keep the table current: no relist needed. */
  incremental: boolean;
  /** Replicas out of rotation after a failed connection, by id; empty on the hot path. */
  readonly suspects: Map<string, Suspect>;
  queue: Waiter[];
  /** Desired replicas as last reported; null before the first report. */
  desired: number | null;
  limits: RequestLimitsResult;
  /** A wake was asked for and the function has not wanted replicas since. */
  wakeRaised: boolean;
  /** Clock ms when the current cold start began (first wake of a burst); null when none runs. */
  wakeStartedAt: number | null;
  /** The gauges last showed an empty queue. */
  reportedEmpty: boolean;
  /** Requests in flight plus waiting, now. */
  present: number;
  /** Requests that arrived so far (published for the other gateways: a change is traffic). */
  arrivals: number;
  /** Calls forwarded to other gateways so far (they take turns). */
  forwards: number;
  /** Integral of `present` over clock time, request·ms, up to `areaAt`. */
  area: number;
  areaAt: number;
  readonly label: string;
  readonly gauges: EntryGauges;
}

/** How a cold start ended: a replica became usable, every waiter timed out, or the wake failed. */
export type WakeOutcome = 'ready' | 'timeout' | 'failed';
