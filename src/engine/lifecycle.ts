import { refKey, type FunctionRef, type ReplicaChanges, type ReplicaInfo, type ReplicaProvider } from '../providers/types.js';
import type { ChangeRecorder } from './change-record.js';
import type { EventSource } from './events.js';

/**
 * Records each replica's start (`scale_up_start`) and readiness (`scale_up_complete`) as the
 * provider reports them, from its `ReplicaChanges` (O(changed replicas)) when it sends them,
 * else from the whole list, with the source of the function's latest applied change. While
 * the count is being raised, changes wait for `catchUp`, so the lifecycle events follow the
 * decision's.
 */
export class Lifecycle {
  /** Replica ids seen per function, and whether each was ready. */
  private readonly seen = new Map<string, Map<string, boolean>>();
  /** Functions whose provider sends `ReplicaChanges` (their `seen` is kept without relisting). */
  private readonly incremental = new Set<string>();
  /** Changes that arrived while the count was being raised, latest per replica (null: gone). */
  private readonly deferred = new Map<string, Map<string, ReplicaInfo | null>>();
  private readonly lastSource = new Map<string, EventSource>();
  /** Functions whose count is being raised now: lifecycle events wait for the decision's. */
  private readonly applying = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly provider: ReplicaProvider,
    private readonly recorder: ChangeRecorder,
  ) {
    this.unsubscribe = provider.subscribe((ref, _state, changes) => this.observe(ref, changes));
  }

  /** Stops listening to the provider. */
  close(): void {
    this.unsubscribe();
  }

  /** The function (by `refKey`) was changed by `source`: its next lifecycle events name it. */
  changedBy(key: string, source: EventSource): void {
    this.lastSource.set(key, source);
  }

  /** The function's count is being raised (`true`) or no longer is: meanwhile changes wait for `catchUp`. */
  raising(key: string, on: boolean): void {
    if (on) this.applying.add(key);
    else this.applying.delete(key);
  }

  /** Brings the lifecycle view up to date outside a notification (at a read, after a raise). */
  catchUp(ref: FunctionRef): void {
    const key = refKey(ref);
    const known = this.seen.get(key);
    const later = this.deferred.get(key);
    this.deferred.delete(key);
    if (known === undefined || !this.incremental.has(key)) {
      this.relist(ref);
      return;
    }
    if (later === undefined) return;
    const source = this.lastSource.get(key) ?? 'policy';
    for (const [id, replica] of later) {
      if (replica === null) known.delete(id);
      else this.see(ref, source, known, replica, false);
    }
  }

  /** A provider notification: what changed when it says, else the whole list; deferred while raising. */
  private observe(ref: FunctionRef, changes: ReplicaChanges | undefined): void {
    const key = refKey(ref);
    if (changes === undefined) this.incremental.delete(key);
    else this.incremental.add(key);
    if (this.applying.has(key)) {
      if (changes !== undefined) this.defer(key, changes);
      return;
    }
    const known = this.seen.get(key);
    if (known === undefined || changes === undefined) {
      this.relist(ref);
      return;
    }
    const source = this.lastSource.get(key) ?? 'policy';
    for (const replica of changes.upserted) this.see(ref, source, known, replica, false);
    for (const id of changes.removed) known.delete(id);
  }

  private defer(key: string, changes: ReplicaChanges): void {
    let later = this.deferred.get(key);
    if (later === undefined) this.deferred.set(key, (later = new Map()));
    for (const replica of changes.upserted) later.set(replica.id, replica);
    for (const id of changes.removed) later.set(id, null);
  }

  /** Compares the whole list with what was seen; the first list of a function records nothing. */
  private relist(ref: FunctionRef): void {
    const key = refKey(ref);
    const known = this.seen.get(key) ?? new Map<string, boolean>();
    const first = !this.seen.has(key);
    this.seen.set(key, known);
    const source = this.lastSource.get(key) ?? 'policy';
    const listed = this.provider.listReplicas(ref);
    for (const replica of listed) this.see(ref, source, known, replica, first);
    if (known.size === listed.length) return;
    const ids = new Set(listed.map((r) => r.id));
    for (const id of [...known.keys()]) if (!ids.has(id)) known.delete(id);
  }

  private see(ref: FunctionRef, source: EventSource, known: Map<string, boolean>, replica: ReplicaInfo, first: boolean): void {
    const ready = replica.phase === 'ready';
    const was = known.get(replica.id);
    // A replica first seen already leaving (listed late, then drained) did not start now.
    const leaving = replica.phase === 'draining' || replica.phase === 'stopping';
    if (was === undefined && !first && !leaving) this.recorder.record(ref, source, 'scale_up_start', 0, 0, replica.phase, {}, replica.id);
    if (ready && was !== true && !(was === undefined && first)) this.recorder.record(ref, source, 'scale_up_complete', 0, 0, 'ready', {}, replica.id);
    known.set(replica.id, ready || (was ?? false));
  }
}
