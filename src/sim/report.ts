import { formatDuration } from './chart.js';
import type { AsyncSummary } from './async-replay.js';
import type { FunctionResult, RunResult } from './run.js';
import type { FunctionSummary, Percentiles } from './stats.js';

/** The `--format json` object of one run: exactly the issue's shape, functions in stack order; `async` on a function with async calls. */
export function summaryJson(result: RunResult): { functions: Array<FunctionSummary & { async?: AsyncSummary }> } {
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
      ...(f.async === undefined ? {} : { async: f.async }),
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

const COLUMNS = ['function', 'requests', 'served', 'queued', 'refused', 'timedOut', 'coldStarts', 'wait p50/p95/p99 ms', 'latency p50/p95/p99 ms', 'replica-s', 'mean', 'peak', 'reaction'];

const reaction = (f: FunctionResult) => (f.reactionMs === null ? '-' : `${(f.reactionMs / 1000).toFixed(1)}s`);

function cells(f: FunctionResult): string[] {
  return [String(f.requests), String(f.served), String(f.queued), String(f.refused), String(f.timedOut), String(f.coldStarts), pct(f.waitMs), pct(f.latencyMs), f.replicaSeconds.toFixed(1), f.meanReplicas.toFixed(2), String(f.peakReplicas), reaction(f)];
}

/** Lines after a table (why a cell is "-", warnings, the SLO verdict), each under its heading; nothing when there are none. */
function section(title: string, lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${title}\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** What follows a table: why each "-" is there, warnings, and the SLO verdict. */
export interface TableNotes {
  readonly dashes?: readonly string[];
  readonly warnings?: readonly string[];
  readonly slo?: readonly string[];
}

function notesText(notes: TableNotes): string {
  return `${section('"-" means:', notes.dashes ?? [])}${(notes.warnings ?? []).map((w) => `${w}\n`).join('')}${section('SLO:', notes.slo ?? [])}`;
}

const ASYNC_COLUMNS = ['function', 'accepted', 'delivered', 'retries', 'deadLettered', 'delay p50/p95/p99 ms'];

/** The async calls' table (accepted, delivered, retried, dead-lettered, delay from acceptance to the answer); nothing when the trace has none. */
export function asyncTable(functions: readonly FunctionResult[], title = 'async calls'): string {
  const rows = functions.flatMap((f) => (f.async === undefined ? [] : [[f.name, String(f.async.accepted), String(f.async.delivered), String(f.async.retries), String(f.async.deadLettered), pct(f.async.delayMs)]]));
  return rows.length === 0 ? '' : `${title}\n${table([ASYNC_COLUMNS, ...rows])}\n`;
}

/** The summary table of one run (the calls; the async calls in a second table), with a heading line, then its notes. */
export function formatTable(result: RunResult, notes: TableNotes = {}): string {
  return `${heading(result)}\n${table([COLUMNS, ...result.functions.map((f) => [f.name, ...cells(f)])])}\n${asyncTable(result.functions)}${notesText(notes)}`;
}

/**
 * Several runs on the same trace side by side: per function, one row per stack, with every
 * column of the one-run table (the alert path's reaction time included), then the notes.
 */
export function formatCompare(results: readonly RunResult[], notes: TableNotes = {}): string {
  const rows: string[][] = [['function', 'stack', 'alerting', ...COLUMNS.slice(1)]];
  const names = results[0]?.functions.map((f) => f.name) ?? [];
  names.forEach((name) => {
    for (const r of results) {
      const f = r.functions.find((g) => g.name === name);
      if (f !== undefined) rows.push([name, r.stack, r.alerting, ...cells(f)]);
    }
  });
  const first = results[0];
  const head = first === undefined ? '' : `trace ${first.trace}, seed ${first.seed}, ${formatDuration(first.endMs)} simulated\n`;
  const asyncTables = results.map((r) => asyncTable(r.functions, `async calls, ${r.stack}`)).join('');
  return `${head}${table(rows)}\n${asyncTables}${notesText(notes)}`;
}
