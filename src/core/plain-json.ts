/**
 * Reading parsed JSON without a schema library, for the fast paths that must give exactly
 * what their zod schema gives for input it accepts as is (src/alerts/payload.ts,
 * src/providers/kubernetes/state-store.ts); anything in doubt is left to the schema.
 */

/** A plain object (what JSON.parse makes), that zod's objects and records take as is. */
export function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * A copy of a record whose every value `item` accepts (and maps), as z.record gives it;
 * undefined for anything else, or a `__proto__` key (zod drops it). O(keys).
 */
export function recordOf<T>(value: unknown, item: (v: unknown) => T | undefined): Record<string, T> | undefined {
  if (!isPlain(value)) return undefined;
  const out: Record<string, T> = {};
  for (const key of Object.keys(value)) {
    const v = item(value[key]);
    if (v === undefined || key === '__proto__') return undefined;
    out[key] = v;
  }
  return out;
}

/** A string as it is; undefined for anything else (an item reader for recordOf). */
export const stringItem = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
