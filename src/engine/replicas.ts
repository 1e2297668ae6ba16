import type { ReplicaInfo, ReplicaPhase } from '../providers/types.js';

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

/**
 * Merges the provider's list into the table: new replicas start with zero counters, known
 * ones keep theirs (and the engine's draining flag), gone ones are dropped. Returns the table.
 */
export function mergeReplicas(table: Map<string, EngineReplica>, listed: readonly ReplicaInfo[]): Map<string, EngineReplica> {
  const seen = new Set<string>();
  for (const info of listed) {
    seen.add(info.id);
    const known = table.get(info.id);
    if (known === undefined) {
      table.set(info.id, {
        id: info.id,
        address: info.address,
        phase: info.phase,
        createdAt: info.createdAt,
        inFlight: 0,
        lastRequestStart: null,
        lastRequestEnd: null,
        served: 0,
        draining: false,
      });
    } else {
      known.address = info.address;
      known.phase = info.phase;
    }
  }
  for (const id of [...table.keys()]) if (!seen.has(id)) table.delete(id);
  return table;
}

/** FNV-1a 32-bit hash of a string: stable across processes, so every gateway agrees. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Which gateway this is among how many; `{count: 1, index: 0}` for a single gateway. */
export interface GatewayShard {
  /** Gateway replicas sharing the functions' hard limits (at least 1). */
  readonly count: number;
  /** This gateway's ordinal, 0 ≤ index < count (a StatefulSet ordinal). */
  readonly index: number;
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
