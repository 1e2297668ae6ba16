import type { Clock } from '../core/clock.js';
import type { FunctionRef, ReplicaProvider } from '../providers/types.js';
import type { Dispatcher } from './dispatcher.js';
import type { ReplicaView } from './replicas.js';

/** True when the replica is on its way out (engine drain or a provider phase past ready). */
export function isLeaving(replica: ReplicaView): boolean {
  return replica.draining || replica.phase === 'draining' || replica.phase === 'stopping';
}

/**
 * Which replicas go when `n` must: those already leaving count first; then idle ones
 * (nothing in flight), newest first; busy ones only when no idle one is left, fewest in
 * flight first, then newest. Pure; returns ids, at most `n` (fewer if not enough exist).
 */
export function chooseVictims(replicas: readonly ReplicaView[], n: number): string[] {
  if (n <= 0) return [];
  const leaving = replicas.filter(isLeaving);
  const staying = replicas
    .filter((r) => !isLeaving(r))
    .map((r, index) => ({ r, index }))
    .sort((a, b) => {
      const idle = Number(a.r.inFlight > 0) - Number(b.r.inFlight > 0);
      if (idle !== 0) return idle;
      if (a.r.inFlight !== b.r.inFlight) return a.r.inFlight - b.r.inFlight;
      return b.r.createdAt - a.r.createdAt || b.index - a.index;
    })
    .map(({ r }) => r);
  return [...leaving, ...staying].slice(0, n).map((r) => r.id);
}

/** How one replica's drain ended. */
export type DrainOutcome = 'drained' | 'drain-timeout' | 'taken-back' | 'gone';

export interface DrainerOptions {
  readonly dispatcher: Dispatcher;
  readonly provider: ReplicaProvider;
  readonly clock: Clock;
  /** Longest wait for in-flight requests before a replica is removed anyway, ms. */
  readonly drainTimeoutMs: number;
}

/**
 * Drains replicas: marks them draining in the dispatcher (no new requests), waits on the
 * clock until each has nothing in flight or the drain timeout passes, and reports which are
 * ready to remove. A replica taken back (a scale-up during the drain) is not removed.
 */
export class Drainer {
  private readonly wakeups = new Set<() => void>();
  private readonly lateListeners = new Set<(ref: FunctionRef, ids: readonly string[]) => void>();

  constructor(private readonly options: DrainerOptions) {}

  /**
   * Marks `ids` draining and resolves, per id, how its drain ended. Costs O(ids), then
   * O(replicas still busy) per slot given back: the rest of the table is never scanned.
   */
  async drain(ref: FunctionRef, ids: readonly string[]): Promise<Map<string, DrainOutcome>> {
    const { dispatcher, clock, drainTimeoutMs } = this.options;
    dispatcher.setDraining(ref, ids, true);
    const done = (id: string): boolean => {
      const r = dispatcher.replica(ref, id);
      return r === undefined || !r.draining || r.inFlight === 0;
    };
    // Replicas still busy; one leaves the set once it is idle, gone or taken back.
    const busy = new Set(ids.filter((id) => !done(id)));
    const settled = (): boolean => {
      for (const id of busy) if (done(id)) busy.delete(id);
      return busy.size === 0;
    };
    let timedOut = false;
    if (!settled()) {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (!settled() && !timedOut) return;
          clock.clearTimeout(timer);
          offIdle();
          this.wakeups.delete(check);
          resolve();
        };
        const timer = clock.setTimeout(() => {
          timedOut = true;
          check();
        }, drainTimeoutMs);
        const offIdle = dispatcher.onIdle((changed) => {
          if (changed.name === ref.name && changed.namespace === ref.namespace) check();
        });
        this.wakeups.add(check);
      });
    }
    const outcomes = new Map<string, DrainOutcome>();
    const late: string[] = [];
    for (const id of ids) {
      const r = dispatcher.replica(ref, id);
      const outcome = r === undefined ? 'gone' : !r.draining ? 'taken-back' : r.inFlight === 0 ? 'drained' : 'drain-timeout';
      outcomes.set(id, outcome);
      if (outcome === 'drain-timeout') late.push(id);
    }
    if (late.length > 0) for (const listener of this.lateListeners) listener(ref, late);
    return outcomes;
  }

  /**
   * Calls `listener` when a drain timed out with requests still in flight on `ids`, before
   * they are removed: holders of long-lived slots there (WebSockets) end them now (close
   * 1001). Returns the unsubscribe function.
   */
  onDrainTimeout(listener: (ref: FunctionRef, ids: readonly string[]) => void): () => void {
    this.lateListeners.add(listener);
    return () => this.lateListeners.delete(listener);
  }

  /** Takes back up to `count` replicas being drained (oldest first); returns their ids. */
  takeBack(ref: FunctionRef, count: number): string[] {
    if (count <= 0) return [];
    const ids = this.options.dispatcher
      .replicas(ref)
      .filter((r) => r.draining && r.phase === 'ready')
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, count)
      .map((r) => r.id);
    if (ids.length === 0) return [];
    this.options.dispatcher.setDraining(ref, ids, false);
    for (const wake of [...this.wakeups]) wake();
    return ids;
  }
}
