import { AppError } from '../../errors.js';
import { parseRequestLimits, type RequestLimits } from '../../policy/labels.js';
import type { ReplicaState } from '../../providers/types.js';
import { gatewayShare, type EngineReplica } from '../replicas.js';
import type { QueueReason } from '../slot.js';
import type { Entry } from './types.js';

/** The function's request limits; LABELS_INVALID while its labels are invalid. */
export function limitsOf(entry: Entry): RequestLimits {
  if (!entry.limits.ok) throw new AppError('LABELS_INVALID', `function ${entry.ref.name} has invalid labels: ${entry.limits.problems.join('; ')}`);
  return entry.limits.limits;
}

/** Each entry's limits with the maps and defaults they were parsed from (parsedLimits). */
const parsed = new WeakMap<Entry, { readonly labels: object; readonly annotations: object; readonly defaults: RequestLimits; readonly limits: Entry['limits'] }>();

/**
 * The request limits `state`'s labels and annotations give: parsed again only when either
 * map (or the defaults) is another object than at the entry's last notification (a
 * function's notifications mostly carry the same maps: its pods and slices changed).
 */
export function parsedLimits(entry: Entry, state: ReplicaState, defaults: RequestLimits): Entry['limits'] {
  const last = parsed.get(entry);
  if (last !== undefined && last.labels === state.labels && last.annotations === state.annotations && last.defaults === defaults) return last.limits;
  const limits = parseRequestLimits(state.labels, state.annotations, defaults);
  parsed.set(entry, { labels: state.labels, annotations: state.annotations, defaults, limits });
  return limits;
}

/** The function's hard limit per replica; 0 (unlimited) while its labels are invalid. */
export function concurrencyOf(entry: Entry): number {
  return entry.limits.ok ? entry.limits.limits.concurrency : 0;
}

/** This gateway's slots on `replica`: its share of the function's hard limit. */
export function capacity(entry: Entry, replica: EngineReplica): number {
  return gatewayShare(concurrencyOf(entry), entry.shard, replica.id);
}

/** Ready, not draining, with an address, and not suspect. */
export function usable(entry: Entry, replica: EngineReplica): boolean {
  return replica.phase === 'ready' && !replica.draining && replica.address !== null && (entry.suspects.size === 0 || !entry.suspects.has(replica.id));
}

/** `busy` when some usable replica could take a request (now or once a slot frees), else `no_replica`. */
export function reasonOf(entry: Entry): QueueReason {
  if (entry.replicas.serving === 0) return 'no_replica';
  // Every replica has a share of at least one slot unless the limit is below the gateway count.
  const concurrency = concurrencyOf(entry);
  if (entry.suspects.size === 0 && (concurrency <= 0 || concurrency >= entry.shard.count)) return 'busy';
  for (const replica of entry.replicas.values()) if (usable(entry, replica) && capacity(entry, replica) > 0) return 'busy';
  return 'no_replica';
}

/** Least in-flight among usable replicas with a free slot; round robin among equals (the table's index). */
export function pick(entry: Entry): EngineReplica | undefined {
  return entry.replicas.next();
}
