import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../log/logger.js';
import { usable, type QueueLengths, type ReplicaRow } from '../policy/decision.js';

/** What the other gateways report for one function, summed over them. */
export interface RemoteLoad {
  /**
   * Requests they hold: in flight on a replica plus waiting in their queues (their
   * `gateway_function_invocation_inflight`, counted from the call's arrival).
   */
  readonly present: number;
  /** Of those, the ones waiting in their queues, by reason (`gateway_function_queue_length`). */
  readonly queued: QueueLengths;
  /** Their started counters (`gateway_function_invocation_started`); a change between two readings is traffic. */
  readonly started: number;
}

/**
 * Reads the other gateways' load of every function at once, keyed by the `function_name`
 * label. Rejects when it cannot (the caller falls back to its own view); honours `signal`.
 */
export interface RemoteLoadSource {
  read(signal: AbortSignal): Promise<ReadonlyMap<string, RemoteLoad>>;
}

/** The other gateways' load of one function as the policy loop uses it. */
export interface RemoteView {
  readonly present: number;
  readonly queued: QueueLengths;
  /** Clock ms of the last reading that showed traffic through another gateway; null before any. */
  readonly activeAt: number | null;
}

interface Track {
  present: number;
  queued: QueueLengths;
  started: number | null;
  activeAt: number | null;
  /** Integral of `present` up to `at`, request·ms (piecewise constant between readings). */
  area: number;
  at: number;
}

/** Half the policy tick, at most 2 s: a slow Prometheus delays a pass by that much at worst. */
export function remoteTimeoutMs(tickMs: number): number {
  return Math.max(1, Math.min(2000, Math.floor(tickMs / 2)));
}

const NONE: QueueLengths = Object.freeze({ busy: 0, no_replica: 0 });

export interface RemoteSignalsOptions {
  readonly source: RemoteLoadSource;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Longest wait for one reading, ms; keep it below the policy tick. */
  readonly timeoutMs: number;
}

/**
 * The other gateways' in-flight requests and queues per function, refreshed once per policy
 * tick from a RemoteLoadSource (the member Leases, or Prometheus). A reading that fails or takes longer than
 * `timeoutMs` sets every function's remote load to nothing (the owner decides from its own
 * view) and logs one warning until a reading works again. Between readings the last one holds;
 * `integral` integrates it over time, so the `concurrency` kind averages it like local load.
 */
export class RemoteSignals {
  private readonly tracks = new Map<string, Track>();
  private readonly log: Logger;
  private failing = false;

  constructor(private readonly options: RemoteSignalsOptions) {
    this.log = options.logger.child({ component: 'remote-signals' });
  }

  /** True while the last reading failed (the loop decides from its own view). */
  get degraded(): boolean {
    return this.failing;
  }

  /** One reading of every function, bounded by `timeoutMs`. Never throws. */
  async refresh(): Promise<void> {
    const { clock, source, timeoutMs } = this.options;
    const controller = new AbortController();
    let timer: TimerHandle | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = clock.setTimeout(() => {
        const err = new Error(`no answer within ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      const loads = await Promise.race([source.read(controller.signal), late]);
      this.apply(loads);
      if (this.failing) this.log.info('remote load restored', { functions: loads.size });
      this.failing = false;
    } catch (err) {
      this.apply(new Map(), true);
      if (!this.failing) {
        this.log.warn('remote load unavailable', {
          error: err instanceof Error ? err.message : String(err),
          hint: 'the policy loop decides from this gateway\'s load only until the query answers again',
        });
      }
      this.failing = true;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  /** The other gateways' load of a function (by `function_name` label); null when unknown or failing. */
  load(label: string): RemoteView | null {
    const track = this.tracks.get(label);
    if (track === undefined || this.failing) return null;
    return { present: track.present, queued: track.queued, activeAt: track.activeAt };
  }

  /** Integral of the other gateways' requests (in flight plus waiting) up to `at` (clock ms), request·ms. */
  integral(label: string, at: number): number {
    const track = this.tracks.get(label);
    if (track === undefined) return 0;
    return track.area + track.present * Math.max(0, at - track.at);
  }

  /**
   * Labels of functions with load at another gateway in the last reading: requests held
   * there, or a started count that moved. Empty while failing.
   */
  *busyLabels(): IterableIterator<string> {
    if (this.failing) return;
    for (const [label, track] of this.tracks) {
      if (track.present > 0 || track.queued.busy + track.queued.no_replica > 0 || (track.activeAt !== null && track.activeAt === track.at)) yield label;
    }
  }

  /** A function that is gone. */
  forget(label: string): void {
    this.tracks.delete(label);
  }

  private apply(loads: ReadonlyMap<string, RemoteLoad>, failed = false): void {
    const now = this.options.clock.now();
    for (const [label, track] of this.tracks) {
      if (loads.has(label)) continue;
      // Absent from the answer (or no answer): nothing held elsewhere from now on.
      this.close(track, now);
      track.present = 0;
      track.queued = NONE;
      if (!failed) track.started = null;
    }
    for (const [label, load] of loads) {
      let track = this.tracks.get(label);
      if (track === undefined) {
        track = { present: 0, queued: NONE, started: null, activeAt: null, area: 0, at: now };
        this.tracks.set(label, track);
      }
      this.close(track, now);
      const counted = track.started !== null && load.started !== track.started;
      if (counted || load.present > 0) track.activeAt = now;
      track.present = Math.max(0, load.present);
      track.queued = { busy: Math.max(0, load.queued.busy), no_replica: Math.max(0, load.queued.no_replica) };
      track.started = load.started;
    }
  }

  private close(track: Track, now: number): void {
    track.area += track.present * Math.max(0, now - track.at);
    track.at = now;
  }
}

/** A function's queue with the other gateways' queues added, reason by reason (unchanged without a view). */
export function queuedWithRemote(queued: QueueLengths, remote: RemoteView | null): QueueLengths {
  if (remote === null) return queued;
  return { busy: queued.busy + remote.queued.busy, no_replica: queued.no_replica + remote.queued.no_replica };
}

/**
 * A function's replica table with the other gateways' requests on it, so the policies decide
 * on the sum over all gateways. Their requests on a replica (held minus waiting) are spread
 * over the usable replicas evenly, the least loaded first (every gateway dispatches over
 * every replica): a replica given one is busy, not free. Traffic through another gateway (a
 * request held or a started count that moved since the last reading) counts as each usable
 * replica's last request end, so idle removal waits until every gateway has been quiet for
 * the idle time. Without a view (null) the table is returned as it is.
 */
export function replicasWithRemote<R extends ReplicaRow>(replicas: readonly R[], remote: RemoteView | null): readonly R[] {
  if (remote === null) return replicas;
  const waiting = remote.queued.busy + remote.queued.no_replica;
  const running = Math.max(0, remote.present - waiting);
  const order = replicas
    .map((r, index) => ({ r, index }))
    .filter(({ r }) => usable(r))
    .sort((a, b) => a.r.inFlight - b.r.inFlight || a.index - b.index);
  const extra = new Map<number, number>();
  if (order.length > 0) {
    const base = Math.floor(running / order.length);
    const rest = running % order.length;
    order.forEach(({ index }, rank) => extra.set(index, base + (rank < rest ? 1 : 0)));
  }
  const { activeAt } = remote;
  return replicas.map((r, index) => {
    const added = extra.get(index);
    if (added === undefined) return r;
    const lastRequestEnd = activeAt === null ? r.lastRequestEnd : Math.max(r.lastRequestEnd ?? activeAt, activeAt);
    return { ...r, inFlight: r.inFlight + added, lastRequestEnd };
  });
}
