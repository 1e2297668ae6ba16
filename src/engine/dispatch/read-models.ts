import type { RequestLimits } from '../../policy/labels.js';
import type { ReplicaCounts, ReplicaView } from '../replicas.js';
import type { QueueReason } from '../slot.js';
import { reasonOf } from './pick.js';
import type { Entry } from './types.js';

/** Queue and replica state of one function, for the API. */
export interface DispatchStats {
  readonly queued: Readonly<Record<QueueReason, number>>;
  /** Age of the oldest waiting request, ms; 0 when none waits. */
  readonly oldestWaitMs: number;
  readonly replicas: readonly ReplicaView[];
}

/** One request waiting in a function's queue, for the API. */
export interface WaitingRequest {
  /** When it joined the queue, clock ms. */
  readonly arrivedAt: number;
  /** Why it waits now: the function's current queue reason. */
  readonly reason: QueueReason;
  /** What it waited for when it joined. */
  readonly arrivalReason: QueueReason;
}

/** Counts of a function the dispatcher does not know. */
export const NO_REPLICAS: ReplicaCounts = { starting: 0, free: 0, busy: 0, draining: 0, stopping: 0, serving: 0 };

/** Copies of the entry's replica table, in creation order; empty without an entry. */
export function replicaViews(entry: Entry | undefined): ReplicaView[] {
  if (entry === undefined) return [];
  return [...entry.replicas.values()].map((r) => ({ ...r }));
}

/** The queue's length under its current reason (the other reason counts 0). */
export function queuedOf(entry: Entry | undefined): Readonly<Record<QueueReason, number>> {
  if (entry === undefined || entry.queue.length === 0) return { no_replica: 0, busy: 0 };
  const length = entry.queue.length;
  const reason = reasonOf(entry);
  return { no_replica: reason === 'no_replica' ? length : 0, busy: reason === 'busy' ? length : 0 };
}

/** At most `limit` waiting requests in queue order, each with its arrival and reasons. */
export function waitingOf(entry: Entry | undefined, limit: number): WaitingRequest[] {
  if (entry === undefined || entry.queue.length === 0) return [];
  const reason = reasonOf(entry);
  const count = Math.min(entry.queue.length, limit);
  const out: WaitingRequest[] = [];
  for (let i = 0; i < count; i++) {
    const waiter = entry.queue[i];
    if (waiter !== undefined) out.push({ arrivedAt: waiter.arrivedAt, reason, arrivalReason: waiter.reason });
  }
  return out;
}

/** The entry's queue by reason, the age of its head at `now` (clock ms) and a copy of its table. */
export function statsOf(entry: Entry | undefined, now: number): DispatchStats {
  if (entry === undefined) return { queued: { no_replica: 0, busy: 0 }, oldestWaitMs: 0, replicas: [] };
  const head = entry.queue[0];
  return { queued: queuedOf(entry), oldestWaitMs: head === undefined ? 0 : now - head.arrivedAt, replicas: replicaViews(entry) };
}

/** The entry's request limits; undefined when there is no entry or its labels are invalid. */
export function validLimits(entry: Entry | undefined): RequestLimits | undefined {
  return entry?.limits.ok === true ? entry.limits.limits : undefined;
}

/** Sets the queue gauges of the entry; the hot path (a slot given back, nobody waiting) sets no gauge twice. */
export function report(entry: Entry): void {
  const length = entry.queue.length;
  if (length === 0 && entry.reportedEmpty) return;
  entry.reportedEmpty = length === 0;
  const reason = reasonOf(entry);
  entry.gauges.queue(reason === 'no_replica' ? length : 0, reason === 'busy' ? length : 0);
}

/** Sets each entry's oldest-wait gauge, seconds at `now` (clock ms): before a scrape. */
export function reportOldest(entries: Iterable<Entry>, now: number): void {
  for (const entry of entries) {
    const head = entry.queue[0];
    entry.gauges.oldest(head === undefined ? 0 : (now - head.arrivedAt) / 1000);
  }
}

/** One function's load at this gateway, as the other gateways are told it. */
export interface EntryLoad {
  readonly function: string;
  readonly present: number;
  readonly queued: Readonly<Record<QueueReason, number>>;
  readonly started: number;
}

/** Entries whose last arrival or departure is older than this (and hold nothing) are quiet: not published. */
const RECENT_MS = 60_000;

/** The busiest entries (requests held, then arrivals), at most `limit`: those holding requests or active in the last minute. */
export function loadsOf(entries: Iterable<Entry>, limit: number, now: number): EntryLoad[] {
  const active: Entry[] = [];
  for (const entry of entries) if (entry.present > 0 || (entry.arrivals > 0 && now - entry.areaAt < RECENT_MS)) active.push(entry);
  active.sort((a, b) => b.present - a.present || b.arrivals - a.arrivals);
  return active.slice(0, limit).map((e) => ({ function: e.label, present: e.present, queued: queuedOf(e), started: e.arrivals }));
}
