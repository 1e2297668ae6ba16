/**
 * The sliding windows of the `concurrency` policy: observed concurrency kept per second of
 * the clock, recorded as point samples or time-weighted segments, averaged over a window.
 */

/**
 * Observed concurrency per second of the clock: `at` is the second's start, ms; `sum / weight`
 * is the second's mean (a point sample weighs 1, a time-weighted segment its length in ms).
 */
export interface Bucket {
  readonly at: number;
  readonly sum: number;
  readonly count: number;
}

const BUCKET_MS = 1000;

/** Adds a point sample `value` at `now` to its second's bucket; drops buckets out of the window. */
export function record(buckets: readonly Bucket[], now: number, value: number, windowMs: number): Bucket[] {
  const at = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  const kept = buckets.filter((b) => b.at > now - windowMs);
  const last = kept.at(-1);
  if (last !== undefined && last.at === at) kept[kept.length - 1] = { at, sum: last.sum + value, count: last.count + 1 };
  else kept.push({ at, sum: value, count: 1 });
  return kept;
}

/**
 * Adds the segment (from, to] at a constant mean concurrency, split at second boundaries and
 * weighted by its length in ms; only the part inside the window counts.
 */
export function recordSegment(buckets: readonly Bucket[], from: number, to: number, mean: number, windowMs: number): Bucket[] {
  const kept = buckets.filter((b) => b.at > to - windowMs || b.at === Math.floor(to / BUCKET_MS) * BUCKET_MS);
  let start = Math.max(from, to - windowMs);
  while (start < to) {
    const at = Math.floor(start / BUCKET_MS) * BUCKET_MS;
    const end = Math.min(to, at + BUCKET_MS);
    const weight = end - start;
    const last = kept.at(-1);
    if (last !== undefined && last.at === at) kept[kept.length - 1] = { at, sum: last.sum + mean * weight, count: last.count + weight };
    else kept.push({ at, sum: mean * weight, count: weight });
    start = end;
  }
  return kept;
}

/**
 * Mean of the per-second means inside the window: each second weighs the same, however often
 * it was sampled. The second `now` falls in always counts, so a window shorter than a second
 * (the panic window of a 6 s stable window is 600 ms) is never empty late in a second.
 */
export function average(buckets: readonly Bucket[], now: number, windowMs: number): number {
  const current = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  let sum = 0;
  let seconds = 0;
  for (const b of buckets) {
    if (b.at <= now - windowMs && b.at !== current) continue;
    sum += b.sum / b.count;
    seconds += 1;
  }
  return seconds === 0 ? 0 : sum / seconds;
}
