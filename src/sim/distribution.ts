import { parseDurationMs } from '../policy/duration.js';
import type { Random } from './random.js';

/**
 * A modelled time, in milliseconds: a fixed Go duration (`300ms`), an exponential with a
 * mean (`exp:100ms`), or a uniform range (`uniform:50ms-150ms`).
 */
export type Distribution =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'exp'; readonly meanMs: number }
  | { readonly kind: 'uniform'; readonly lowMs: number; readonly highMs: number };

/** Parses `300ms`, `exp:100ms` or `uniform:50ms-150ms`; null when the text is none of them. */
export function parseDistribution(text: string): Distribution | null {
  const trimmed = text.trim();
  if (trimmed.startsWith('exp:')) {
    const meanMs = parseDurationMs(trimmed.slice('exp:'.length));
    return meanMs === null ? null : { kind: 'exp', meanMs };
  }
  if (trimmed.startsWith('uniform:')) {
    const [low = '', high = '', extra] = trimmed.slice('uniform:'.length).split('-');
    const lowMs = parseDurationMs(low);
    const highMs = parseDurationMs(high);
    if (extra !== undefined || lowMs === null || highMs === null || highMs < lowMs) return null;
    return { kind: 'uniform', lowMs, highMs };
  }
  const ms = parseDurationMs(trimmed);
  return ms === null ? null : { kind: 'fixed', ms };
}

/** Draws one value, ms. A fixed distribution draws nothing from `random`. */
export function sample(distribution: Distribution, random: Random): number {
  switch (distribution.kind) {
    case 'fixed':
      return distribution.ms;
    case 'exp':
      return random.exponential(distribution.meanMs);
    case 'uniform':
      return random.uniform(distribution.lowMs, distribution.highMs);
  }
}

/** The mean of a distribution, ms. */
export function meanOf(distribution: Distribution): number {
  switch (distribution.kind) {
    case 'fixed':
      return distribution.ms;
    case 'exp':
      return distribution.meanMs;
    case 'uniform':
      return (distribution.lowMs + distribution.highMs) / 2;
  }
}
