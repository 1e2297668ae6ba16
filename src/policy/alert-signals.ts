import type { AlertState, HoldEntry, ValueEntry } from './alert-state.js';

/**
 * Most holds, and most values, kept per function (the oldest seen go first). Why 100, not
 * ALERT_STATE_MAX_ENTRIES: the annotation at every cap must stay well under the 256 KiB
 * Kubernetes allows for all of a Deployment's annotations; `firing` and `steps` at 1000 take
 * about 134 KB, and 100 holds with the longest name (ALERT_NAME_MAX_CHARS) plus 100 values
 * add about 25 KB (test/alerts/annotation-size.test.ts). A function held by more than 100
 * distinct alerts at once, or fed its queue by more than 100, is not a case worth 10 times that.
 */
export const ALERT_SIGNAL_MAX_ENTRIES = 100;
/** A hold's alert name is stored cut to this many characters (label values have no bound of their own). */
export const ALERT_NAME_MAX_CHARS = 64;

/** What one alert of a notification says about a function's holds or queue value. */
export type SignalNote =
  /** `scale_action="hold"`: firing holds the function, resolved lets it go. */
  | { readonly kind: 'hold'; readonly fingerprint: string; readonly firing: boolean; readonly name: string }
  /** An alert with a `value` annotation: firing with a number reports a queue; else it no longer does. */
  | { readonly kind: 'value'; readonly fingerprint: string; readonly firing: boolean; readonly value: number | null };

/** The state with a notification's holds and values noted, and what holds the function before and after. */
export interface NotedSignals {
  readonly state: AlertState;
  /** False when the stored state needs no write (nothing new, nothing gone stale). */
  readonly changed: boolean;
  /** Names of the live holds before the notes, and after. */
  readonly heldBefore: readonly string[];
  readonly heldAfter: readonly string[];
}

/** Live entries (seen less than `staleMs` ago), oldest first; `pruned` counts the stale ones left out. */
function live<T extends { readonly seen: number }>(record: Readonly<Record<string, T>> | undefined, now: number, staleMs: number): { entries: Map<string, T>; pruned: number } {
  const all = Object.entries(record ?? {});
  const kept = all.filter(([, e]) => now - e.seen < staleMs).sort((a, b) => a[1].seen - b[1].seen);
  return { entries: new Map(kept), pruned: all.length - kept.length };
}

/** Sets (or with null removes) one entry, the newest last; drops the oldest past `max`. True when anything changed. */
function put<T>(entries: Map<string, T>, key: string, entry: T | null, max: number): boolean {
  const had = entries.delete(key);
  if (entry === null) return had;
  entries.set(key, entry);
  for (const oldest of entries.keys()) {
    if (entries.size <= max) break;
    entries.delete(oldest);
  }
  return true;
}

/** Names of the holds in `entries`, each once, sorted. */
function names(entries: ReadonlyMap<string, HoldEntry>): readonly string[] {
  return [...new Set([...entries.values()].map((e) => e.name))].sort();
}

/**
 * Notes a notification's hold and value alerts in a function's alert state: a firing one is
 * (re)stamped `now`, a resolved one removed, entries not seen for `staleMs` dropped (a lost
 * resolve), at most `max` of each (the oldest go). `firing`, `steps` and `scaleDownAt` are
 * kept as they are. Pure.
 */
export function noteSignals(state: AlertState, notes: readonly SignalNote[], now: number, staleMs: number, max = ALERT_SIGNAL_MAX_ENTRIES): NotedSignals {
  const holds = live(state.holds, now, staleMs);
  const values = live(state.values, now, staleMs);
  const heldBefore = names(holds.entries);
  let changed = holds.pruned + values.pruned > 0;
  for (const note of notes) {
    if (note.kind === 'hold') {
      const entry = note.firing ? { name: note.name.slice(0, ALERT_NAME_MAX_CHARS), seen: now } : null;
      changed = put(holds.entries, note.fingerprint, entry, max) || changed;
    } else {
      const entry = note.firing && note.value !== null ? { value: note.value, seen: now } : null;
      changed = put(values.entries, note.fingerprint, entry, max) || changed;
    }
  }
  const next: AlertState = {
    firing: state.firing,
    scaleDownAt: state.scaleDownAt,
    steps: state.steps,
    ...(holds.entries.size === 0 ? {} : { holds: Object.fromEntries(holds.entries) }),
    ...(values.entries.size === 0 ? {} : { values: Object.fromEntries(values.entries) }),
  };
  return { state: changed ? next : state, changed, heldBefore, heldAfter: names(holds.entries) };
}

/** Names of the holds of `state` still live at `now` (each once, sorted); empty when none. Pure. */
export function liveHolds(state: AlertState, now: number, staleMs: number): readonly string[] {
  return names(live(state.holds, now, staleMs).entries);
}

/** Sum of the queue lengths the live value alerts of `state` report; null when none does. Pure. */
export function liveQueueValue(state: AlertState, now: number, staleMs: number): number | null {
  const { entries } = live<ValueEntry>(state.values, now, staleMs);
  if (entries.size === 0) return null;
  let sum = 0;
  for (const e of entries.values()) sum += e.value;
  return sum;
}
