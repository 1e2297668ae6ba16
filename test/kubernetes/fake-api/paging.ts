/**
 * The list and watch rules of the fake API server that a label selector and pagination bring:
 * continue tokens (`limit` + `continue`, as the apiserver pages a list from one
 * resourceVersion) and how a change reaches a filtered watch (an object that starts matching
 * is ADDED, one that stops matching is DELETED with its previous content, as the apiserver's
 * watch cache does in cache_watcher.go convertToWatchEvent).
 */
import { HttpError, type K8sObject } from './wire.js';

/** What a continue token carries: the list's resourceVersion and the last key returned. */
export interface ContinueToken {
  readonly rv: number;
  readonly start: string;
}

export function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: token.rv, start: token.start })).toString('base64url');
}

/** The token of a `continue` query value; 400 when it is not one of ours, 410 when its resourceVersion was compacted. */
export function decodeContinue(value: string, compactedRv: number): ContinueToken {
  let parsed: { rv?: unknown; start?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as { rv?: unknown; start?: unknown };
  } catch {
    throw new HttpError(400, 'continue key is not valid: illegal base64 data');
  }
  if (typeof parsed.rv !== 'number' || typeof parsed.start !== 'string') throw new HttpError(400, 'continue key is not valid: incorrect encoded start resourceVersion');
  if (parsed.rv < compactedRv) {
    throw new HttpError(410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
  }
  return { rv: parsed.rv, start: parsed.start };
}

/** One page of `items` (already filtered) after `start`, in key order; `limit` 0 means all. */
export function page<T>(items: ReadonlyArray<{ key: string; object: T }>, start: string, limit: number): { objects: T[]; last: string | null; remaining: number } {
  const after = items.filter((i) => i.key > start).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const taken = limit > 0 ? after.slice(0, limit) : after;
  const remaining = after.length - taken.length;
  return { objects: taken.map((i) => i.object), last: remaining > 0 ? (taken.at(-1)?.key ?? null) : null, remaining };
}

/** As `page`, on items already sorted by key: a binary search for the start, no filter, no sort. */
export function pageSorted<T>(sorted: ReadonlyArray<{ key: string; object: T }>, start: string, limit: number): { objects: T[]; last: string | null; remaining: number } {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid]?.key ?? '') <= start) lo = mid + 1;
    else hi = mid;
  }
  const taken = sorted.slice(lo, lo + limit);
  const remaining = sorted.length - lo - taken.length;
  return { objects: taken.map((i) => i.object), last: remaining > 0 ? (taken.at(-1)?.key ?? null) : null, remaining };
}

/**
 * The event a watch with filter `inScope` gets for a change, or null: `previous` is the
 * object before a MODIFIED. Matching before and after: MODIFIED; only after: ADDED; only
 * before: DELETED carrying the previous content at the new resourceVersion.
 */
export function eventFor(
  eventType: 'ADDED' | 'MODIFIED' | 'DELETED',
  object: K8sObject,
  previous: K8sObject | undefined,
  inScope: (o: K8sObject) => boolean,
): { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: K8sObject } | null {
  const now = inScope(object);
  if (eventType !== 'MODIFIED') return now ? { type: eventType, object } : null;
  const before = previous !== undefined && inScope(previous);
  if (now && before) return { type: 'MODIFIED', object };
  if (now) return { type: 'ADDED', object };
  if (before && previous !== undefined) return { type: 'DELETED', object: { ...previous, metadata: { ...previous.metadata, resourceVersion: object.metadata.resourceVersion } } };
  return null;
}
