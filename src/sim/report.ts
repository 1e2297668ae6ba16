import { formatDuration } from './chart.js';
import type { RunResult } from './run.js';
import type { FunctionSummary, Percentiles } from './stats.js';

/** The `--format json` object of one run: exactly the shape, functions in stack order. */
export function summaryJson(result: RunResult): { functions: FunctionSummary[] } {
  return {
    functions: result.functions.map((f) => ({
      name: f.name,
      requests: f.requests,
      served: f.served,
      queued: f.queued,
      refused: f.refused,
      timedOut: f.timedOut,
      coldStarts: f.coldStarts,
      replicaSeconds: f.replicaSeconds,
      meanReplicas: f.meanReplicas,
      peakReplicas: f.peakReplicas,
      waitMs: f.waitMs,
      latencyMs: f.latencyMs,
    })),
  };
}

/** The `--compare --format json` object: one entry per stack, each with its functions and reaction times. */
export function compareJson(results: readonly RunResult[]): unknown {
  return {
    runs: results.map((r) => ({
      stack: r.stack,
      alerting: r.alerting,
      functions: r.functions.map((f) => ({ ...summaryJson({ ...r, functions: [f] }).functions[0], reactionMs: f.reactionMs })),
    })),
  };
}

const ms = (v: number | null) => (v === null ? '-' : String(v));
const pct = (p: Percentiles) => `${ms(p.p50)}/${ms(p.p95)}/${ms(p.p99)}`;

/** Left-aligned first column, the others right-aligned; two spaces between. */
function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

function heading(result: RunResult): string {
  const notes = result.notes.length > 0 ? `\n${result.notes.join('\n')}` : '';
  return `${result.stack} (alerting ${result.alerting}), trace ${result.trace}, seed ${result.seed}, ${formatDuration(result.endMs)} simulated${notes}`;
}

const COLUMNS = ['function', 'requests', 'served', 'queued', 'refused', 'timedOut', 'coldStarts', 'wait p50/p95/p99 ms', 'latency p50/p95/p99 ms', 'replica-s', 'mean', 'peak'];

function cells(f: FunctionSummary): string[] {
  return [f.name, String(f.requests), String(f.served), String(f.queued), String(f.refused), String(f.timedOut), String(f.coldStarts), pct(f.waitMs), pct(f.latencyMs), f.replicaSeconds.toFixed(1), f.meanReplicas.toFixed(2), String(f.peakReplicas)];
}

/** The summary table of one run, with a heading line. */
export function formatTable(result: RunResult): string {
  return `${heading(result)}\n${table([COLUMNS, ...result.functions.map(cells)])}\n`;
}

/**
 * Several runs on the same trace side by side: per function, one row per stack, with the
 * alert path's reaction time next to the cost.
 */
export function formatCompare(results: readonly RunResult[]): string {
  const rows: string[][] = [['function', 'stack', 'alerting', 'reaction', 'replica-s', 'mean', 'peak', 'served', 'queued', 'refused', 'timedOut', 'coldStarts', 'wait p50/p95/p99 ms', 'latency p50/p95/p99 ms']];
  const names = results[0]?.functions.map((f) => f.name) ?? [];
  names.forEach((name) => {
    for (const r of results) {
      const f = r.functions.find((g) => g.name === name);
      if (f === undefined) continue;
      const reaction = f.reactionMs === null ? '-' : `${(f.reactionMs / 1000).toFixed(1)}s`;
      rows.push([name, r.stack, r.alerting, reaction, f.replicaSeconds.toFixed(1), f.meanReplicas.toFixed(2), String(f.peakReplicas), String(f.served), String(f.queued), String(f.refused), String(f.timedOut), String(f.coldStarts), pct(f.waitMs), pct(f.latencyMs)]);
    }
  });
  const first = results[0];
  const head = first === undefined ? '' : `trace ${first.trace}, seed ${first.seed}, ${formatDuration(first.endMs)} simulated\n`;
  return `${head}${table(rows)}\n`;
}
