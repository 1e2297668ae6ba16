import { stableHash } from '../core/hash.js';
import type { ReplicaChanges, ReplicaInfo, ReplicaPhase } from '../providers/types.js';

/** One replica as the engine sees it: the provider's facts plus the engine's own counters. */
export interface EngineReplica {
  readonly id: string;
  address: URL | null;
  phase: ReplicaPhase;
  /** Epoch ms, from the provider. */
  readonly createdAt: number;
  /** Requests holding a slot on this replica now (through this gateway). */
  inFlight: number;
  /** Clock ms of the last slot handed out / released; null before the first. */
  lastRequestStart: number | null;
  lastRequestEnd: number | null;
  /** Slots released so far. */
  served: number;
  /** Set by the engine while it drains the replica: no new requests. */
  draining: boolean;
}

/** A read-only copy of an EngineReplica, for the API and tests. */
export type ReplicaView = Readonly<EngineReplica>;

/** Where a replica stands for routing and the gauges; leaving ones are `draining` or `stopping`. */
export type ReplicaClass = 'starting' | 'free' | 'busy' | 'draining' | 'stopping';

/** A function's replicas counted by class, plus `serving`: ready, not draining, with an address. */
export type ReplicaCounts = Readonly<Record<ReplicaClass | 'serving', number>>;

function classOf(replica: EngineReplica): ReplicaClass {
  if (replica.phase === 'stopping') return 'stopping';
  if (replica.draining || replica.phase === 'draining') return 'draining';
  if (replica.phase === 'starting') return 'starting';
  return replica.inFlight > 0 ? 'busy' : 'free';
}

function isServing(replica: EngineReplica): boolean {
  return replica.phase === 'ready' && !replica.draining && replica.address !== null;
}

/** What the table asks its owner about a replica: its slots here and whether it is out of rotation. */
export interface ReplicaLimits {
  /** This gateway's slots on the replica (Infinity: unlimited; 0: none). */
  capacity(replica: EngineReplica): number;
  /** Out of rotation for now (a suspect): it gets no slot. */
  excluded(replica: EngineReplica): boolean;
}

/** A row of the table, linked into the list of open replicas with the same in-flight count. */
interface Row {
  readonly replica: EngineReplica;
  /** The in-flight count it is listed under; -1 when it is not open. */
  level: number;
  prev: Row | null;
  next: Row | null;
}

interface Level {
  head: Row | null;
  tail: Row | null;
}

/**
 * One function's replica table: the provider's facts plus the engine's counters, by id in
 * the order replicas were first seen, with counts by class kept up to date on every change
 * (so a gauge or a routing question never recounts the table), and an index of the open
 * replicas (serving, not excluded, a free slot) by in-flight count, so `next` (least in
 * flight, round robin among equals) costs O(1) however many replicas there are. Every change
 * of a row goes through a method here; a provider's `ReplicaChanges` cost O(changed
 * replicas), a full relist (`merge`, for providers that send no changes) O(all replicas).
 */
export class ReplicaTable {
  private readonly rows = new Map<string, Row>();
  private readonly tally: Record<ReplicaClass | 'serving', number> = { starting: 0, free: 0, busy: 0, draining: 0, stopping: 0, serving: 0 };
  /** Open replicas by in-flight count; each list in the order its replicas entered it. */
  private readonly levels = new Map<number, Level>();
  private open = 0;
  /** No open replica is listed below this in-flight count. */
  private lowest = 0;

  constructor(private readonly limits: ReplicaLimits) {}

  get size(): number {
    return this.rows.size;
  }

  get(id: string): EngineReplica | undefined {
    return this.rows.get(id)?.replica;
  }

  *values(): IterableIterator<EngineReplica> {
    for (const row of this.rows.values()) yield row.replica;
  }

  counts(): ReplicaCounts {
    return { ...this.tally };
  }

  /** Ready, not draining, with an address: how many could take a request (suspects aside). */
  get serving(): number {
    return this.tally.serving;
  }

  /**
   * The replica the next request goes to: least in flight among the open ones, and among
   * equals the one that has waited longest at that count (round robin); undefined when none
   * has a free slot.
   */
  next(): EngineReplica | undefined {
    if (this.open === 0) return undefined;
    for (;;) {
      const head = this.levels.get(this.lowest)?.head;
      if (head !== undefined && head !== null) return head.replica;
      this.lowest += 1;
    }
  }

  /**
   * Takes the provider's whole list: new replicas start with zero counters, known ones keep
   * theirs (and the engine's draining flag), gone ones are dropped.
   */
  merge(listed: readonly ReplicaInfo[]): void {
    const seen = new Set<string>();
    for (const info of listed) {
      seen.add(info.id);
      this.upsert(info);
    }
    if (seen.size === this.rows.size) return;
    for (const id of [...this.rows.keys()]) if (!seen.has(id)) this.delete(id);
  }

  /** Applies what changed since the provider's previous notification. */
  apply(changes: ReplicaChanges): void {
    for (const info of changes.upserted) this.upsert(info);
    for (const id of changes.removed) this.delete(id);
  }

  setDraining(replica: EngineReplica, draining: boolean): void {
    if (replica.draining !== draining) this.update(replica, () => (replica.draining = draining));
  }

  /** A slot taken (+1) or given back (-1) on `replica`. */
  addInFlight(replica: EngineReplica, delta: 1 | -1): void {
    this.update(replica, () => (replica.inFlight += delta));
  }

  /** Looks again whether `replica` is open (its exclusion changed). */
  refresh(replica: EngineReplica): void {
    this.update(replica, () => undefined);
  }

  /** Looks again at every replica (the capacities changed: a new concurrency label). */
  reindex(): void {
    for (const row of this.rows.values()) this.relink(row);
  }

  private upsert(info: ReplicaInfo): void {
    const known = this.rows.get(info.id);
    if (known === undefined) {
      const replica: EngineReplica = {
        id: info.id,
        address: info.address,
        phase: info.phase,
        createdAt: info.createdAt,
        inFlight: 0,
        lastRequestStart: null,
        lastRequestEnd: null,
        served: 0,
        draining: false,
      };
      const row: Row = { replica, level: -1, prev: null, next: null };
      this.rows.set(info.id, row);
      this.count(replica, 1);
      this.relink(row);
    } else if (known.replica.phase !== info.phase || known.replica.address !== info.address) {
      const replica = known.replica;
      this.update(replica, () => {
        replica.address = info.address;
        replica.phase = info.phase;
      });
    }
  }

  private delete(id: string): void {
    const row = this.rows.get(id);
    if (row === undefined) return;
    this.rows.delete(id);
    this.count(row.replica, -1);
    this.unlink(row);
  }

  /** Changes a row between uncounting and recounting it; a row already gone is only changed. */
  private update(replica: EngineReplica, change: () => void): void {
    const row = this.rows.get(replica.id);
    const listed = row !== undefined && row.replica === replica;
    if (listed) this.count(replica, -1);
    change();
    if (listed) {
      this.count(replica, 1);
      this.relink(row);
    }
  }

  private count(replica: EngineReplica, sign: 1 | -1): void {
    this.tally[classOf(replica)] += sign;
    if (isServing(replica)) this.tally.serving += sign;
  }

  /** Lists the row under its in-flight count when it is open, at the end; unlists it otherwise. */
  private relink(row: Row): void {
    const { replica } = row;
    const open = isServing(replica) && replica.inFlight < this.limits.capacity(replica) && !this.limits.excluded(replica);
    const level = open ? replica.inFlight : -1;
    if (level === row.level) return;
    this.unlink(row);
    if (level < 0) return;
    let list = this.levels.get(level);
    if (list === undefined) this.levels.set(level, (list = { head: null, tail: null }));
    row.level = level;
    row.prev = list.tail;
    if (list.tail === null) list.head = row;
    else list.tail.next = row;
    list.tail = row;
    this.open += 1;
    if (level < this.lowest) this.lowest = level;
  }

  private unlink(row: Row): void {
    if (row.level < 0) return;
    const list = this.levels.get(row.level);
    if (list !== undefined) {
      if (row.prev === null) list.head = row.next;
      else row.prev.next = row.next;
      if (row.next === null) list.tail = row.prev;
      else row.next.prev = row.prev;
      if (list.head === null && row.level > 0) this.levels.delete(row.level);
    }
    row.prev = null;
    row.next = null;
    row.level = -1;
    this.open -= 1;
  }
}

/**
 * Which gateway this is among how many; `{count: 1, index: 0}` for a single gateway. Read at
 * every pick: a live source (gateway membership) may answer differently from one call to the
 * next, and tells the dispatcher with `Dispatcher.reshard` when it did.
 */
export interface GatewayShard {
  /** Gateway replicas sharing the functions' hard limits (at least 1). */
  readonly count: number;
  /** This gateway's ordinal, 0 ≤ index < count (a StatefulSet ordinal, or its rank among the live members). */
  readonly index: number;
  /**
   * Where the gateway of rank `index` takes function calls (its function listener), for a
   * call this gateway has no slot for; null when unknown. Absent: no forwarding.
   */
  addressOf?(index: number): URL | null;
}

/**
 * This gateway's share of one replica's hard concurrency limit, so the shares of all
 * gateways add up to exactly `limit`: each gets floor(limit / count), and the remainder
 * goes to `limit mod count` gateways chosen by rotating from the replica's hash (so with
 * a limit below the gateway count, each gateway owns slots on a different subset of
 * replicas). `limit` 0 (unlimited) gives Infinity; a share can be 0 (no slot here).
 */
export function gatewayShare(limit: number, shard: GatewayShard, replicaId: string): number {
  if (limit <= 0) return Number.POSITIVE_INFINITY;
  const count = Math.max(1, Math.floor(shard.count));
  const base = Math.floor(limit / count);
  const extra = limit % count;
  const slot = (stableHash(replicaId) + shard.index) % count;
  return base + (slot < extra ? 1 : 0);
}
