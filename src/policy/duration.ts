const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration (`500ms`, `30s`, `1m30s`, `2h`) into milliseconds.
 * A bare non-negative integer is read as seconds. Returns null when the text is not a duration
 * or its milliseconds are not a safe integer (400 digits would otherwise read as Infinity).
 */
export function parseDurationMs(text: string): number | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return exact(Number(trimmed) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(trimmed)) return null;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  }
  return exact(Math.round(total));
}

function exact(ms: number): number | null {
  return Number.isSafeInteger(ms) ? ms : null;
}
