/** Columns are separated by at least this many spaces (as faas-cli list). */
const GAP = 4;

/**
 * Formats rows under a header as aligned columns (each as wide as its widest cell, plus
 * GAP spaces; no trailing spaces). Pure; an empty `rows` gives the header alone.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((cells) => formatRow(cells, widths)).join('\n');
}

/** One row padded to `widths` (longer cells push the rest right). */
export function formatRow(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => c.padEnd((widths[i] ?? c.length) + GAP))
    .join('')
    .trimEnd();
}

/** Epoch ms or an ISO string as ISO-8601 UTC (`2026-01-02T03:04:05.678Z`); `-` for none. */
export function utc(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return '-';
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

/** Stable JSON for scripts: two-space indent, one trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
