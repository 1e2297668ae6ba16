import { AppError } from '../errors.js';
import type { RequestLimits } from '../policy/labels.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaChanges, type ReplicaState } from '../providers/types.js';
import { createEntry } from './dispatch/entry.js';
import { Granter } from './dispatch/grant.js';
import { LoadMeter } from './dispatch/load-meter.js';
import { SUSPECT_MS, type DispatcherOptions } from './dispatch/options.js';
import { concurrencyOf, limitsOf, parsedLimits, pick, reasonOf } from './dispatch/pick.js';
import { WaitQueue, type WaitOptions } from './dispatch/queue.js';
import { forwardSlot, forwardWaiting } from './dispatch/forward.js';
import { NO_REPLICAS, loadsOf, queuedOf, replicaViews, report, reportOldest, statsOf, validLimits, waitingOf, type DispatchStats, type EntryLoad, type WaitingRequest } from './dispatch/read-models.js';
import { clearSuspects, markSuspect, reviewSuspects } from './dispatch/suspects.js';
import type { Entry } from './dispatch/types.js';
import { ColdStarts } from './dispatch/wake.js';
import type { QueueReason, Slot } from './slot.js';
import type { GatewayShard, ReplicaCounts, ReplicaView } from './replicas.js';

export type { QueueReason, Slot } from './slot.js';
export { SUSPECT_MS, type DispatcherOptions } from './dispatch/options.js';
export type { DispatchStats, EntryLoad, WaitingRequest } from './dispatch/read-models.js';
export { FORWARDED_HEADER } from './dispatch/forward.js';
export type { WaitOptions } from './dispatch/queue.js';

/**
 * The only place a request gets a replica. Least in-flight among ready, non-draining
 * replicas with a free slot under the function's hard limit (round robin among equals);
 * otherwise the request waits in the function's one FIFO queue, and a released slot or a
 * newly ready replica goes to the queue's head first. Replica facts come from the provider's
 * subscription and `listReplicas`; in-flight counts are the dispatcher's own. A request for a
 * function that wants 0 replicas raises `onNeedReplica` (the wake); the time from that to the
 * first usable replica is the cold start (`alert_scaler_cold_start_seconds`).
 *
 * Composes the parts in src/engine/dispatch/: entries (types.ts, entry.ts), replica choice
 * (pick.ts), slots given and taken back (grant.ts), the queue and its timeouts (queue.ts),
 * wakes (wake.ts), suspects, the load meter and its listeners, the read models.
 */
export class Dispatcher {
  private readonly entries = new Map<string, Entry>();
  private readonly shard: GatewayShard;
  private readonly meter: LoadMeter;
  private readonly wakes: ColdStarts;
  private readonly queue: WaitQueue;
  private readonly unsubscribe: () => void;
  private readonly collect = () => reportOldest(this.entries.values(), this.options.clock.now());
  private readonly granter: Granter;
  /** Serves the queue after a suspect's time passed: one function for all entries. */
  private readonly pumpEntry = (entry: Entry): void => this.granter.pump(entry);
  private closed = false;

  constructor(private readonly options: DispatcherOptions) {
    this.shard = options.shard ?? { count: 1, index: 0 };
    this.meter = new LoadMeter(options.clock);
    this.wakes = new ColdStarts(options.clock, options.metrics, options.onNeedReplica);
    this.queue = new WaitQueue(options.clock, this.meter, this.wakes, options.provider);
    this.granter = new Granter(options.clock, this.meter, this.wakes, options.defaults);
    this.unsubscribe = options.provider.subscribe((ref, state, changes) => this.notified(ref, state, changes));
    options.metrics.beforeCollect.add(this.collect);
  }

  /** Stops listening and fails every waiting request with SHUTTING_DOWN; later ones get it at once. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    this.options.metrics.beforeCollect.delete(this.collect);
    for (const entry of this.entries.values()) {
      clearSuspects(entry, this.options.clock);
      this.queue.rejectAll(entry, (waiter) => new AppError('SHUTTING_DOWN', 'gateway is shutting down', { details: { reason: waiter.reason } }));
      report(entry);
    }
  }

  /** Reads a function's state from the provider and syncs it (once before its first request). */
  async track(ref: FunctionRef): Promise<void> {
    this.sync(ref, await this.options.provider.getReplicas(ref));
  }

  /**
   * Takes the function's state (when given: desired count and labels) and serves the queue.
   * The replica table is read again from `listReplicas` unless the provider keeps it
   * current with `ReplicaChanges` (then this costs nothing per replica).
   */
  sync(ref: FunctionRef, state?: ReplicaState): void {
    const entry = this.entry(ref);
    if (!entry.incremental) entry.replicas.merge(this.options.provider.listReplicas(ref));
    this.settle(entry, state);
  }

  /** A provider notification: what changed in the list when it says, else the whole list. */
  private notified(ref: FunctionRef, state: ReplicaState, changes: ReplicaChanges | undefined): void {
    const fresh = !this.entries.has(refKey(ref));
    const entry = this.entry(ref);
    entry.incremental = changes !== undefined;
    // A new entry was just read whole, changes included.
    if (changes !== undefined) {
      if (!fresh) entry.replicas.apply(changes);
    } else if (!fresh) entry.replicas.merge(this.options.provider.listReplicas(ref));
    this.settle(entry, state);
  }

  private settle(entry: Entry, state: ReplicaState | undefined): void {
    if (entry.suspects.size > 0) reviewSuspects(entry, this.options.clock);
    if (state !== undefined) {
      entry.desired = state.desired;
      const before = concurrencyOf(entry);
      entry.limits = parsedLimits(entry, state, this.options.defaults);
      if (concurrencyOf(entry) !== before) entry.replicas.reindex();
      if (state.desired > 0) entry.wakeRaised = false;
    }
    this.serve(entry);
    // Scaled to 0 (a manual scale, the idler) while requests wait for a replica: wake again.
    if (entry.queue.length > 0) this.wakes.maybeWake(entry);
  }

  /**
   * The wake of `ref` failed: every request waiting for a replica is rejected with
   * WAKE_FAILED (502, `cause` kept), the cold start counts as failed, and the next request
   * may wake the function again. Requests waiting for a busy replica keep waiting.
   */
  wakeFailed(ref: FunctionRef, cause: Error): void {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined) return;
    entry.wakeRaised = false;
    if (reasonOf(entry) !== 'no_replica') return;
    this.wakes.end(entry, 'failed');
    this.queue.rejectAll(entry, (waiter) => new AppError('WAKE_FAILED', `function ${ref.name} could not be woken: ${cause.message}`, { cause, details: { reason: waiter.reason } }));
    report(entry);
  }

  /**
   * A slot at once, or null when the request must wait (no free slot, or others already wait:
   * a new arrival never overtakes the queue). With no slot on any replica here (a hard limit
   * below the gateway count), one that forwards the call to a gateway with one (`forwarded`),
   * unless `local` (a call forwarded here). Throws LABELS_INVALID.
   */
  tryAcquire(ref: FunctionRef, local = false): Slot | null {
    return this.tryGrant(this.entry(ref), undefined, local);
  }

  private tryGrant(entry: Entry, deadlineAt: number | undefined, local: boolean): Slot | null {
    const limits = limitsOf(entry);
    if (entry.queue.length > 0) return null;
    const replica = pick(entry);
    if (replica !== undefined) return this.granter.grant(entry, replica, null, deadlineAt);
    return local ? null : forwardSlot(entry, this.options.clock, deadlineAt === undefined ? limits.requestTimeoutMs : Math.max(0, deadlineAt - this.options.clock.now()));
  }

  /** The gateway count, this gateway's rank or a member's address changed: slots counted again, queues served. */
  reshard(): void {
    for (const entry of this.entries.values()) {
      entry.replicas.reindex();
      this.serve(entry);
    }
  }

  /** Free slots to the queue's head; then waiting calls this gateway holds no slot for go to a member that has one. */
  private serve(entry: Entry): void {
    this.granter.pump(entry);
    forwardWaiting(entry, this.options.clock, this.meter, (entry.limits.ok ? entry.limits.limits : this.options.defaults).requestTimeoutMs);
  }

  /** The busiest functions here (requests held, then arrivals), at most `limit`: what this gateway publishes to the others. */
  loads = (limit: number): EntryLoad[] => loadsOf(this.entries.values(), limit, this.options.clock.now());

  /**
   * A slot, waiting in the function's FIFO queue when none is free. Rejects with QUEUE_FULL
   * (queue at its bound), WAKE_TIMEOUT (no replica at all within `maxWaitMs`), QUEUE_TIMEOUT
   * (replicas, but no free slot within `maxWaitMs`), WAKE_FAILED (see `wakeFailed`),
   * SHUTTING_DOWN (`close`), LABELS_INVALID, or BAD_REQUEST when `signal` aborts (the client
   * left; it is dropped from the queue). `maxWaitMs` defaults to the function's limit (label
   * `com.openfaas.scale.wake-timeout`). Queue rejections carry `details.reason`: what the
   * request waited for when it joined. `deadlineAt` (clock ms, a retried call's
   * `Slot.deadlineAt`) bounds both the wait and the new slot's request timeout; a deadline
   * already past rejects with REQUEST_TIMEOUT.
   */
  acquire(ref: FunctionRef, opts: WaitOptions = {}): Promise<Slot> {
    const { deadlineAt } = opts;
    const entry = this.entry(ref);
    const left = deadlineAt === undefined ? Number.POSITIVE_INFINITY : deadlineAt - this.options.clock.now();
    if (left <= 0) return Promise.reject(new AppError('REQUEST_TIMEOUT', `function ${ref.name} ran out of its request timeout before a retry`));
    try {
      const slot = this.tryGrant(entry, deadlineAt, opts.local === true || opts.forwardLater === true);
      if (slot !== null) return Promise.resolve(slot);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'gateway is shutting down'));
    return this.queue.wait(entry, opts, left);
  }

  /** Marks replicas draining (no new requests) or takes them back; taking back serves the queue. */
  setDraining(ref: FunctionRef, ids: readonly string[], draining: boolean): void {
    const entry = this.entry(ref);
    for (const id of ids) {
      const replica = entry.replicas.get(id);
      if (replica !== undefined) entry.replicas.setDraining(replica, draining);
    }
    report(entry);
    if (!draining) this.granter.pump(entry);
  }

  /**
   * Takes a replica out of rotation after the proxy could not reach it (the connection was
   * refused, or reset before the replica read the call) while the provider still lists it
   * ready, as between a replica's death and the provider noticing. No slot goes to it until
   * the provider drops it, or reports it not ready and then ready again (a restart in place),
   * or `suspectMs` passes: the next call to it is then the probe, and a failure makes it
   * suspect again. Meanwhile requests go to the other replicas or wait for one. An unknown
   * function or replica is ignored; suspecting a suspect restarts its time.
   */
  suspect(ref: FunctionRef, replicaId: string): void {
    const entry = this.entries.get(refKey(ref));
    const replica = entry?.replicas.get(replicaId);
    if (entry === undefined || replica === undefined) return;
    markSuspect(entry, replica, this.options.clock, this.options.suspectMs ?? SUSPECT_MS, this.pumpEntry);
    report(entry);
  }

  /** Calls `listener` whenever a replica's in-flight count drops to 0; returns the unsubscribe function. */
  onIdle = (listener: (ref: FunctionRef, replicaId: string) => void): (() => void) => this.meter.onIdle(listener);

  /** The function's request limits as its labels last set them; undefined when it is unknown or its labels are invalid. */
  limits = (ref: FunctionRef): RequestLimits | undefined => validLimits(this.entries.get(refKey(ref)));

  /**
   * Calls `listener` each time a request has to wait (it joined the function's queue), with
   * what it waits for; returns the unsubscribe function. Never called on the fast path.
   */
  onQueued(listener: (ref: FunctionRef, reason: QueueReason) => void): () => void {
    return this.meter.onQueued(listener);
  }

  /**
   * Calls `listener` when a function with no request present (none in flight, none waiting)
   * gets one: the moment a quiet function becomes active. Not called again until it has been
   * quiet once more; returns the unsubscribe function.
   */
  onActive(listener: (ref: FunctionRef) => void): () => void {
    return this.meter.onActive(listener);
  }

  /** Copies of the function's replica table (provider facts + engine counters), in creation order. */
  replicas(ref: FunctionRef): ReplicaView[] {
    return replicaViews(this.entries.get(refKey(ref)));
  }

  /** One replica of the table, read-only and live (not a copy); undefined when unknown. */
  replica(ref: FunctionRef, id: string): ReplicaView | undefined {
    return this.entries.get(refKey(ref))?.replicas.get(id);
  }

  /** The function's replicas counted by class, kept up to date (no table scan); zeros when unknown. */
  replicaCounts(ref: FunctionRef): ReplicaCounts {
    return this.entries.get(refKey(ref))?.replicas.counts() ?? { ...NO_REPLICAS };
  }

  /** How many replicas the table holds, whatever their phase. */
  replicaCount(ref: FunctionRef): number {
    return this.entries.get(refKey(ref))?.replicas.size ?? 0;
  }

  /**
   * The time integral of the function's requests in flight plus waiting, request·ms, up to
   * `at` (clock ms). Two readings give the time-weighted mean concurrency between them,
   * however often or whenever they are taken (as Knative's queue-proxy averages per second).
   */
  concurrencyIntegral(ref: FunctionRef): { readonly sum: number; readonly at: number } {
    return this.meter.integral(this.entries.get(refKey(ref)));
  }

  /**
   * The requests waiting for `ref`, in queue order (the head is served first), at most
   * `limit` of them: each with its arrival time (clock ms) and why it waits now (the
   * function's current reason, as `stats` counts it). Read-only; empty for an unknown function.
   */
  waiting(ref: FunctionRef, limit = Number.POSITIVE_INFINITY): WaitingRequest[] {
    return waitingOf(this.entries.get(refKey(ref)), limit);
  }

  /** Requests waiting for `ref` by what they wait for now (as `stats`, without copying the table). */
  queued(ref: FunctionRef): Readonly<Record<QueueReason, number>> {
    return queuedOf(this.entries.get(refKey(ref)));
  }

  /** Queue by reason, the oldest wait and a copy of the replica table of `ref`; empty when unknown. */
  stats(ref: FunctionRef): DispatchStats {
    return statsOf(this.entries.get(refKey(ref)), this.options.clock.now());
  }

  private entry(ref: FunctionRef): Entry {
    const key = refKey(ref);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const { metrics, defaults, clock } = this.options;
      entry = createEntry(ref, functionLabel(ref, this.options.defaultNamespace), clock.now(), { metrics, defaults, shard: this.shard });
      entry.replicas.merge(this.options.provider.listReplicas(ref));
      this.entries.set(key, entry);
    }
    return entry;
  }
}
