import type { Gauge } from 'prom-client';
import type { Clock, TimerHandle } from '../core/clock.js';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { parseRequestLimits, type RequestLimits, type RequestLimitsResult } from '../policy/labels.js';
import { functionLabel, refKey, type FunctionRef, type ReplicaChanges, type ReplicaProvider, type ReplicaState } from '../providers/types.js';
import { GrantedSlot, type QueueReason, type Slot } from './slot.js';
import { gatewayShare, ReplicaTable, type EngineReplica, type GatewayShard, type ReplicaCounts, type ReplicaView } from './replicas.js';

export type { QueueReason, Slot } from './slot.js';

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

export interface DispatcherOptions {
  readonly provider: ReplicaProvider;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
  /** Limits of a function without the labels (config). */
  readonly defaults: RequestLimits;
  /** This gateway among several sharing each replica's hard limit; a single gateway when absent. */
  readonly shard?: GatewayShard;
  /**
   * Called when a request queues with `no_replica` and the function wants 0 replicas (as
   * last reported: `track` a function before its first request); once per burst, again only
   * after the function wanted replicas or its queue emptied, and again when the function is
   * scaled to 0 while requests wait for it. A wake that fails calls `wakeFailed`.
   */
  readonly onNeedReplica?: (ref: FunctionRef) => void;
  /** How long a `suspect` replica stays out of rotation at most, ms; SUSPECT_MS when absent. */
  readonly suspectMs?: number;
}

/** A suspect replica stays out of rotation this long at most, ms, unless the provider reports it back first. */
export const SUSPECT_MS = 1000;

/** A replica the proxy could not reach, out of rotation until it comes back (see `Dispatcher.suspect`). */
interface Suspect {
  /** The provider has reported it not ready (or without an address) since it became suspect. */
  sawDown: boolean;
  readonly timer: TimerHandle;
}

interface Waiter {
  readonly arrivedAt: number;
  /** What the request waited for when it joined the queue. */
  readonly reason: QueueReason;
  /** The request timeout may not pass this clock ms (a retried call); undefined for a new call. */
  readonly deadlineAt: number | undefined;
  readonly resolve: (slot: Slot) => void;
  readonly reject: (err: Error) => void;
  readonly cleanup: () => void;
}

interface Entry {
  readonly ref: FunctionRef;
  readonly replicas: ReplicaTable;
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
  /** Integral of `present` over clock time, request·ms, up to `areaAt`. */
  area: number;
  areaAt: number;
  readonly label: string;
  readonly gauges: {
    readonly noReplica: Gauge.Internal<'function_name' | 'reason'>;
    readonly busy: Gauge.Internal<'function_name' | 'reason'>;
    readonly held: Gauge.Internal<'function_name'>;
    readonly oldest: Gauge.Internal<'function_name'>;
  };
}

/** How a cold start ended: a replica became usable, every waiter timed out, or the wake failed. */
type WakeOutcome = 'ready' | 'timeout' | 'failed';

/**
 * The only place a request gets a replica. Least in-flight among ready, non-draining
 * replicas with a free slot under the function's hard limit (round robin among equals);
 * otherwise the request waits in the function's one FIFO queue, and a released slot or a
 * newly ready replica goes to the queue's head first. Replica facts come from the provider's
 * subscription and `listReplicas`; in-flight counts are the dispatcher's own. A request for a
 * function that wants 0 replicas raises `onNeedReplica` (the wake); the time from that to the
 * first usable replica is the cold start (`alert_scaler_cold_start_seconds`).
 */
export class Dispatcher {
  private readonly entries = new Map<string, Entry>();
  private readonly idleListeners = new Set<(ref: FunctionRef, replicaId: string) => void>();
  private readonly queuedListeners = new Set<(ref: FunctionRef, reason: QueueReason) => void>();
  private readonly activeListeners = new Set<(ref: FunctionRef) => void>();
  private readonly shard: GatewayShard;
  private readonly unsubscribe: () => void;
  private readonly collect = () => this.reportOldest();
  /** Gives a slot back: shared by every slot, so a slot carries no closure of its own. */
  private readonly free = (slot: GrantedSlot<Entry>): void => {
    const { clock } = this.options;
    const { entry, replica } = slot;
    clock.clearTimeout(slot.timer);
    this.count(entry, -1);
    entry.replicas.addInFlight(replica, -1);
    replica.served += 1;
    replica.lastRequestEnd = clock.now();
    if (replica.inFlight === 0 && this.idleListeners.size > 0) for (const listener of [...this.idleListeners]) listener(entry.ref, replica.id);
    this.pump(entry);
  };
  private closed = false;

  constructor(private readonly options: DispatcherOptions) {
    this.shard = options.shard ?? { count: 1, index: 0 };
    this.unsubscribe = options.provider.subscribe((ref, state, changes) => this.notified(ref, state, changes));
    options.metrics.beforeCollect.add(this.collect);
  }

  /** Stops listening and fails every waiting request with SHUTTING_DOWN; later ones get it at once. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    this.options.metrics.beforeCollect.delete(this.collect);
    for (const entry of this.entries.values()) {
      for (const suspect of entry.suspects.values()) this.options.clock.clearTimeout(suspect.timer);
      entry.suspects.clear();
      const queue = entry.queue;
      this.count(entry, -queue.length);
      entry.queue = [];
      for (const waiter of queue) {
        waiter.cleanup();
        waiter.reject(new AppError('SHUTTING_DOWN', 'gateway is shutting down', { details: { reason: waiter.reason } }));
      }
      this.report(entry);
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
    if (entry.suspects.size > 0) this.reviewSuspects(entry);
    if (state !== undefined) {
      entry.desired = state.desired;
      const before = this.concurrencyOf(entry);
      entry.limits = parseRequestLimits(state.labels, state.annotations, this.options.defaults);
      if (this.concurrencyOf(entry) !== before) entry.replicas.reindex();
      if (state.desired > 0) entry.wakeRaised = false;
    }
    this.pump(entry);
    // Scaled to 0 (a manual scale, the idler) while requests wait for a replica: wake again.
    if (entry.queue.length > 0) this.maybeWake(entry);
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
    if (this.reasonOf(entry) !== 'no_replica') return;
    this.endWake(entry, 'failed');
    const queue = entry.queue;
    this.count(entry, -queue.length);
    entry.queue = [];
    for (const waiter of queue) {
      waiter.cleanup();
      waiter.reject(new AppError('WAKE_FAILED', `function ${ref.name} could not be woken: ${cause.message}`, { cause, details: { reason: waiter.reason } }));
    }
    this.report(entry);
  }

  /**
   * A slot at once, or null when the request must wait (no free slot, or others already
   * wait: a new arrival never overtakes the queue). Throws LABELS_INVALID.
   */
  tryAcquire(ref: FunctionRef): Slot | null {
    return this.tryGrant(this.entry(ref), undefined);
  }

  private tryGrant(entry: Entry, deadlineAt: number | undefined): Slot | null {
    this.limitsOf(entry);
    if (entry.queue.length > 0) return null;
    const replica = this.pick(entry);
    return replica === undefined ? null : this.grant(entry, replica, null, deadlineAt);
  }

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
  acquire(ref: FunctionRef, opts: { readonly signal?: AbortSignal; readonly maxWaitMs?: number; readonly deadlineAt?: number } = {}): Promise<Slot> {
    const { clock } = this.options;
    const { deadlineAt } = opts;
    const entry = this.entry(ref);
    const left = deadlineAt === undefined ? Number.POSITIVE_INFINITY : deadlineAt - clock.now();
    if (left <= 0) return Promise.reject(new AppError('REQUEST_TIMEOUT', `function ${ref.name} ran out of its request timeout before a retry`));
    try {
      const slot = this.tryGrant(entry, deadlineAt);
      if (slot !== null) return Promise.resolve(slot);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'gateway is shutting down'));
    const limits = this.limitsOf(entry);
    const { maxQueued } = limits;
    if (entry.queue.length >= maxQueued) {
      return Promise.reject(new AppError('QUEUE_FULL', `function ${ref.name} already has ${maxQueued} requests waiting`, { details: { maxQueued } }));
    }
    const { signal } = opts;
    const maxWaitMs = Math.min(opts.maxWaitMs ?? limits.maxWaitMs, left);
    const arrivalReason = this.reasonOf(entry);
    if (signal?.aborted === true) return Promise.reject(new AppError('BAD_REQUEST', 'client went away'));
    return new Promise<Slot>((resolve, reject) => {
      const drop = (err: AppError) => {
        this.count(entry, -1);
        entry.queue = entry.queue.filter((w) => w !== waiter);
        waiter.cleanup();
        if (entry.queue.length === 0) entry.wakeRaised = false;
        this.report(entry);
        reject(err);
      };
      const onAbort = () => drop(new AppError('BAD_REQUEST', 'client went away while queued'));
      const timer: TimerHandle = clock.setTimeout(() => {
        const details = { maxWaitMs, reason: arrivalReason };
        if (this.reasonOf(entry) === 'no_replica') {
          drop(this.wakeTimeout(ref, maxWaitMs, details));
          if (entry.queue.length === 0) this.endWake(entry, 'timeout');
        } else {
          drop(new AppError('QUEUE_TIMEOUT', `function ${ref.name} had no free replica slot within ${maxWaitMs} ms`, { details }));
        }
      }, maxWaitMs);
      const waiter: Waiter = {
        arrivedAt: clock.now(),
        reason: arrivalReason,
        deadlineAt,
        resolve,
        reject,
        cleanup: () => {
          clock.clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.count(entry, 1);
      entry.queue.push(waiter);
      this.report(entry);
      this.maybeWake(entry);
      if (this.queuedListeners.size > 0) for (const listener of [...this.queuedListeners]) listener(entry.ref, arrivalReason);
    });
  }

  /**
   * WAKE_TIMEOUT for a request that waited `maxWaitMs` for a replica: when the function's
   * replicas keep crashing it names the cause (the provider's last crash: exit code or
   * signal, last stderr line) in the message and in `details` (crashes, exitCode, signal,
   * lastError).
   */
  private wakeTimeout(ref: FunctionRef, maxWaitMs: number, details: Readonly<Record<string, unknown>>): AppError {
    const loop = this.options.provider.crashLoop?.(ref) ?? null;
    if (loop === null) return new AppError('WAKE_TIMEOUT', `function ${ref.name} had no ready replica within ${maxWaitMs} ms`, { details: { ...details } });
    const { last } = loop;
    return new AppError('WAKE_TIMEOUT', `function ${ref.name} did not become ready: ${last.message}`, {
      details: { ...details, crashes: loop.crashes, exitCode: last.code, signal: last.signal, lastError: last.message },
    });
  }

  /** Marks replicas draining (no new requests) or takes them back; taking back serves the queue. */
  setDraining(ref: FunctionRef, ids: readonly string[], draining: boolean): void {
    const entry = this.entry(ref);
    for (const id of ids) {
      const replica = entry.replicas.get(id);
      if (replica !== undefined) entry.replicas.setDraining(replica, draining);
    }
    this.report(entry);
    if (!draining) this.pump(entry);
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
    const { clock } = this.options;
    const known = entry.suspects.get(replicaId);
    if (known !== undefined) clock.clearTimeout(known.timer);
    const timer = clock.setTimeout(() => {
      if (!entry.suspects.delete(replicaId)) return;
      this.refresh(entry, replicaId);
      this.pump(entry);
    }, this.options.suspectMs ?? SUSPECT_MS);
    timer.unref();
    entry.suspects.set(replicaId, { sawDown: replica.phase !== 'ready' || replica.address === null, timer });
    entry.replicas.refresh(replica);
    this.report(entry);
  }

  /** After a provider report: a suspect that is gone, or came back ready after being down, is one no more. */
  private reviewSuspects(entry: Entry): void {
    for (const [id, suspect] of entry.suspects) {
      const replica = entry.replicas.get(id);
      const down = replica === undefined || replica.phase !== 'ready' || replica.address === null;
      if (replica !== undefined && down) suspect.sawDown = true;
      else if (replica === undefined || suspect.sawDown) {
        this.options.clock.clearTimeout(suspect.timer);
        entry.suspects.delete(id);
        this.refresh(entry, id);
      }
    }
  }

  /** A replica's suspect mark changed: the table looks again whether it is open. */
  private refresh(entry: Entry, id: string): void {
    const replica = entry.replicas.get(id);
    if (replica !== undefined) entry.replicas.refresh(replica);
  }

  /** Calls `listener` whenever a replica's in-flight count drops to 0; returns the unsubscribe function. */
  onIdle(listener: (ref: FunctionRef, replicaId: string) => void): () => void {
    this.idleListeners.add(listener);
    return () => this.idleListeners.delete(listener);
  }

  /**
   * Calls `listener` each time a request has to wait (it joined the function's queue), with
   * what it waits for; returns the unsubscribe function. Never called on the fast path.
   */
  onQueued(listener: (ref: FunctionRef, reason: QueueReason) => void): () => void {
    this.queuedListeners.add(listener);
    return () => this.queuedListeners.delete(listener);
  }

  /**
   * Calls `listener` when a function with no request present (none in flight, none waiting)
   * gets one: the moment a quiet function becomes active. Not called again until it has been
   * quiet once more; returns the unsubscribe function.
   */
  onActive(listener: (ref: FunctionRef) => void): () => void {
    this.activeListeners.add(listener);
    return () => this.activeListeners.delete(listener);
  }

  /** Copies of the function's replica table (provider facts + engine counters), in creation order. */
  replicas(ref: FunctionRef): ReplicaView[] {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined) return [];
    return [...entry.replicas.values()].map((r) => ({ ...r }));
  }

  /** One replica of the table, read-only and live (not a copy); undefined when unknown. */
  replica(ref: FunctionRef, id: string): ReplicaView | undefined {
    return this.entries.get(refKey(ref))?.replicas.get(id);
  }

  /** The function's replicas counted by class, kept up to date (no table scan); zeros when unknown. */
  replicaCounts(ref: FunctionRef): ReplicaCounts {
    return this.entries.get(refKey(ref))?.replicas.counts() ?? { starting: 0, free: 0, busy: 0, draining: 0, stopping: 0, serving: 0 };
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
    const entry = this.entries.get(refKey(ref));
    const now = this.options.clock.now();
    if (entry === undefined) return { sum: 0, at: now };
    return { sum: entry.area + entry.present * (now - entry.areaAt), at: now };
  }

  /** Closes the integral's segment at the old value, then changes the count of present requests. */
  private count(entry: Entry, delta: number): void {
    if (delta === 0) return;
    const now = this.options.clock.now();
    entry.area += entry.present * (now - entry.areaAt);
    entry.areaAt = now;
    const quiet = entry.present === 0;
    entry.present += delta;
    if (quiet && delta > 0 && this.activeListeners.size > 0) for (const listener of [...this.activeListeners]) listener(entry.ref);
  }

  /**
   * The requests waiting for `ref`, in queue order (the head is served first), at most
   * `limit` of them: each with its arrival time (clock ms) and why it waits now (the
   * function's current reason, as `stats` counts it). Read-only; empty for an unknown function.
   */
  waiting(ref: FunctionRef, limit = Number.POSITIVE_INFINITY): WaitingRequest[] {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined || entry.queue.length === 0) return [];
    const reason = this.reasonOf(entry);
    const count = Math.min(entry.queue.length, limit);
    const out: WaitingRequest[] = [];
    for (let i = 0; i < count; i++) {
      const waiter = entry.queue[i];
      if (waiter !== undefined) out.push({ arrivedAt: waiter.arrivedAt, reason, arrivalReason: waiter.reason });
    }
    return out;
  }

  /** Requests waiting for `ref` by what they wait for now (as `stats`, without copying the table). */
  queued(ref: FunctionRef): Readonly<Record<QueueReason, number>> {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined || entry.queue.length === 0) return { no_replica: 0, busy: 0 };
    const length = entry.queue.length;
    const reason = this.reasonOf(entry);
    return { no_replica: reason === 'no_replica' ? length : 0, busy: reason === 'busy' ? length : 0 };
  }

  stats(ref: FunctionRef): DispatchStats {
    const entry = this.entries.get(refKey(ref));
    if (entry === undefined) return { queued: { no_replica: 0, busy: 0 }, oldestWaitMs: 0, replicas: [] };
    const length = entry.queue.length;
    const reason = this.reasonOf(entry);
    const head = entry.queue[0];
    return {
      queued: { no_replica: reason === 'no_replica' ? length : 0, busy: reason === 'busy' ? length : 0 },
      oldestWaitMs: head === undefined ? 0 : this.options.clock.now() - head.arrivedAt,
      replicas: this.replicas(ref),
    };
  }

  /** Raises the wake when requests wait for a function that wants no replica (once per burst). */
  private maybeWake(entry: Entry): void {
    if (entry.wakeRaised || entry.desired !== 0 || this.reasonOf(entry) !== 'no_replica') return;
    entry.wakeRaised = true;
    entry.wakeStartedAt ??= this.options.clock.now();
    this.options.onNeedReplica?.(entry.ref);
  }

  private endWake(entry: Entry, outcome: WakeOutcome): void {
    if (entry.wakeStartedAt === null) return;
    const seconds = (this.options.clock.now() - entry.wakeStartedAt) / 1000;
    entry.wakeStartedAt = null;
    const { coldStarts, coldStartSeconds } = this.options.metrics;
    coldStarts.inc({ function_name: entry.label, outcome });
    if (outcome === 'ready') coldStartSeconds.observe({ function_name: entry.label }, seconds);
  }

  private entry(ref: FunctionRef): Entry {
    const key = refKey(ref);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const label = functionLabel(ref, this.options.defaultNamespace);
      const { queueLength, queueOldestWaitSeconds, heldRequests } = this.options.metrics;
      // The table asks its entry for capacities and suspects; it is filled once the entry exists.
      const owner: { entry?: Entry } = {};
      const replicas = new ReplicaTable({
        capacity: (replica) => (owner.entry === undefined ? 0 : this.capacity(owner.entry, replica)),
        excluded: (replica) => owner.entry !== undefined && owner.entry.suspects.size > 0 && owner.entry.suspects.has(replica.id),
      });
      entry = {
        ref: { name: ref.name, namespace: ref.namespace },
        replicas,
        incremental: false,
        suspects: new Map(),
        queue: [],
        desired: null,
        limits: { ok: true, limits: this.options.defaults },
        wakeRaised: false,
        wakeStartedAt: null,
        reportedEmpty: false,
        present: 0,
        area: 0,
        areaAt: this.options.clock.now(),
        label,
        gauges: {
          noReplica: queueLength.labels({ function_name: label, reason: 'no_replica' }),
          busy: queueLength.labels({ function_name: label, reason: 'busy' }),
          held: heldRequests.labels({ function_name: label }),
          oldest: queueOldestWaitSeconds.labels({ function_name: label }),
        },
      };
      owner.entry = entry;
      replicas.merge(this.options.provider.listReplicas(ref));
      this.entries.set(key, entry);
    }
    return entry;
  }

  private limitsOf(entry: Entry): RequestLimits {
    if (!entry.limits.ok) throw new AppError('LABELS_INVALID', `function ${entry.ref.name} has invalid labels: ${entry.limits.problems.join('; ')}`);
    return entry.limits.limits;
  }

  private capacity(entry: Entry, replica: EngineReplica): number {
    return gatewayShare(this.concurrencyOf(entry), this.shard, replica.id);
  }

  /** The function's hard limit per replica; 0 (unlimited) while its labels are invalid. */
  private concurrencyOf(entry: Entry): number {
    return entry.limits.ok ? entry.limits.limits.concurrency : 0;
  }

  /** Ready, not draining, with an address, and not suspect. */
  private usable(entry: Entry, replica: EngineReplica): boolean {
    return replica.phase === 'ready' && !replica.draining && replica.address !== null && (entry.suspects.size === 0 || !entry.suspects.has(replica.id));
  }

  /** `busy` when some usable replica could take a request (now or once a slot frees), else `no_replica`. */
  private reasonOf(entry: Entry): QueueReason {
    if (entry.replicas.serving === 0) return 'no_replica';
    // Every replica has a share of at least one slot unless the limit is below the gateway count.
    const concurrency = this.concurrencyOf(entry);
    if (entry.suspects.size === 0 && (concurrency <= 0 || concurrency >= this.shard.count)) return 'busy';
    for (const replica of entry.replicas.values()) if (this.usable(entry, replica) && this.capacity(entry, replica) > 0) return 'busy';
    return 'no_replica';
  }

  /** Least in-flight among usable replicas with a free slot; round robin among equals (the table's index). */
  private pick(entry: Entry): EngineReplica | undefined {
    return entry.replicas.next();
  }

  /** A slot on `replica`; its request timeout fires after the function's limit, or at `deadlineAt` when that is sooner. */
  private grant(entry: Entry, replica: EngineReplica, waiter: Waiter | null, deadlineAt: number | undefined): Slot {
    const { clock } = this.options;
    const now = clock.now();
    if (waiter === null) this.count(entry, 1);
    entry.replicas.addInFlight(replica, 1);
    replica.lastRequestStart = now;
    const timeoutMs = entry.limits.ok ? entry.limits.limits.requestTimeoutMs : this.options.defaults.requestTimeoutMs;
    const fireInMs = deadlineAt === undefined ? timeoutMs : Math.max(0, Math.min(timeoutMs, deadlineAt - now));
    const slot = new GrantedSlot(entry, replica, waiter === null ? null : now - waiter.arrivedAt, waiter === null ? null : waiter.reason, this.free);
    slot.deadlineAt = now + fireInMs;
    slot.timer = clock.setTimeout(() => slot.expire(timeoutMs), fireInMs);
    slot.timer.unref();
    return slot;
  }

  /** Hands free slots to the queue's head, in order, until the queue or the slots run out. */
  private pump(entry: Entry): void {
    while (entry.queue.length > 0) {
      const replica = this.pick(entry);
      if (replica === undefined) break;
      const waiter = entry.queue.shift() as Waiter;
      waiter.cleanup();
      waiter.resolve(this.grant(entry, replica, waiter, waiter.deadlineAt));
    }
    if (entry.queue.length === 0) entry.wakeRaised = false;
    if (entry.wakeStartedAt !== null && this.reasonOf(entry) === 'busy') this.endWake(entry, 'ready');
    this.report(entry);
  }

  private report(entry: Entry): void {
    const length = entry.queue.length;
    // The hot path (a slot given back, nobody waiting) sets no gauge twice.
    if (length === 0 && entry.reportedEmpty) return;
    entry.reportedEmpty = length === 0;
    const reason = this.reasonOf(entry);
    entry.gauges.noReplica.set(reason === 'no_replica' ? length : 0);
    entry.gauges.held.set(reason === 'no_replica' ? length : 0);
    entry.gauges.busy.set(reason === 'busy' ? length : 0);
  }

  private reportOldest(): void {
    const now = this.options.clock.now();
    for (const entry of this.entries.values()) {
      const head = entry.queue[0];
      entry.gauges.oldest.set(head === undefined ? 0 : (now - head.arrivedAt) / 1000);
    }
  }
}
