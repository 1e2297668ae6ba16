import type { Clock } from '../../core/clock.js';
import type { EngineReplica } from '../replicas.js';
import type { Entry } from './types.js';

/**
 * Marks `replica` suspect for `suspectMs` at most (see `Dispatcher.suspect`); suspecting a
 * suspect restarts its time. When the time passes, `expired` is told (to serve the queue).
 */
export function markSuspect(entry: Entry, replica: EngineReplica, clock: Clock, suspectMs: number, expired: (entry: Entry) => void): void {
  const replicaId = replica.id;
  const known = entry.suspects.get(replicaId);
  if (known !== undefined) clock.clearTimeout(known.timer);
  const timer = clock.setTimeout(() => {
    if (!entry.suspects.delete(replicaId)) return;
    refresh(entry, replicaId);
    expired(entry);
  }, suspectMs);
  timer.unref();
  entry.suspects.set(replicaId, { sawDown: replica.phase !== 'ready' || replica.address === null, timer });
  entry.replicas.refresh(replica);
}

/** After a provider report: a suspect that is gone, or came back ready after being down, is one no more. */
export function reviewSuspects(entry: Entry, clock: Clock): void {
  for (const [id, suspect] of entry.suspects) {
    const replica = entry.replicas.get(id);
    const down = replica === undefined || replica.phase !== 'ready' || replica.address === null;
    if (replica !== undefined && down) suspect.sawDown = true;
    else if (replica === undefined || suspect.sawDown) {
      clock.clearTimeout(suspect.timer);
      entry.suspects.delete(id);
      refresh(entry, id);
    }
  }
}

/** Forgets every suspect of the entry and stops their timers (the dispatcher closes). */
export function clearSuspects(entry: Entry, clock: Clock): void {
  for (const suspect of entry.suspects.values()) clock.clearTimeout(suspect.timer);
  entry.suspects.clear();
}

/** A replica's suspect mark changed: the table looks again whether it is open. */
function refresh(entry: Entry, id: string): void {
  const replica = entry.replicas.get(id);
  if (replica !== undefined) entry.replicas.refresh(replica);
}
