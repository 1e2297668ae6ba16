import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { policyDefaults, requestDefaults } from '../config/defaults.js';
import { packageRoot } from '../config/package-root.js';
import { configSchema } from '../config/schema.js';
import { eventsToCsv } from '../engine/events.js';
import { isAppError } from '../errors.js';
import { parseDurationMs } from '../policy/duration.js';
import { shippedAlerting } from './alerting.js';
import { renderChart } from './chart.js';
import { Random } from './random.js';
import { compareJson, formatCompare, formatTable, summaryJson } from './report.js';
import { simulate, type RunResult } from './run.js';
import { parseSimStack, specDefaultsOf, type SimStack } from './stack.js';
import { capacityWarnings, explainDashes, parseSlo, sloVerdict, type Slo } from './explain.js';
import { openTrace } from './trace.js';

export const SIMULATE_USAGE = `usage: alert-scaler simulate --stack stack.yml --trace <file | builtin:NAME> [--duration D] [--seed N] [--out DIR] [--start ISO] [--slo pNN=D] [--format table|json]
       alert-scaler simulate --compare a.yml b.yml ... --trace <file | builtin:NAME> [same options]
  Replays a load trace through the engine on a virtual clock and reports, per function,
  calls served, queued, refused (503) and timed out (504), cold starts, wait and latency
  percentiles, replica-seconds and the alert path's reaction; then why any cell is "-", and
  warnings (a function that cannot complete more than its rule's threshold).
  --trace     a CSV (time,function[,duration] | time,function,duration,async (async 1: an
              async call) | start,function,count | Azure Functions 2019
              HashOwner,HashApp,HashFunction,Trigger,1..1440) or builtin:step, builtin:spike,
              builtin:diurnal[:MEAN], builtin:sparse, builtin:poisson:RATE
  --duration  how much to simulate (Go duration: 10m, 24h); the trace's length by default
  --seed      seed of every random draw (default 1): same input and seed, same output
  --out       also write events.csv, events.json, summary.json and chart.svg into DIR
  --start     the wall-clock time the trace starts at, for the times in --out's events
              (ISO-8601, e.g. 2026-12-07T09:00:00Z; default: now, to the second)
  --slo       a latency objective, e.g. p95=500ms (p50, p95 or p99): names, per function, the
              cheapest run (fewest replica-seconds) that meets it with no failed call, and by
              how much; exit code 3 when some function has no run that meets it
  --format    table (default) or json
  --help, -h  this usage`;

interface SimulateArgs {
  readonly stacks: readonly string[];
  readonly compare: boolean;
  readonly trace: string;
  readonly durationMs: number | null;
  readonly seed: number;
  readonly out: string | null;
  readonly format: 'table' | 'json';
  /** Epoch ms the trace's time 0 stands for, in --out's events. */
  readonly startMs: number;
  readonly slo: Slo | null;
}

class UsageError extends Error {}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** How each option with a value sets its field; throws UsageError for a bad value. */
const OPTIONS: Readonly<Record<string, (text: string, args: Mutable<SimulateArgs>) => void>> = {
  '--stack': (text, args) => void (args.stacks as string[]).push(text),
  '--trace': (text, args) => void (args.trace = text),
  '--out': (text, args) => void (args.out = text),
  '--duration': (text, args) => {
    const ms = parseDurationMs(text);
    if (ms === null || ms <= 0) throw new UsageError(`--duration ${text} is not a positive duration like 10m`);
    args.durationMs = ms;
  },
  '--seed': (text, args) => {
    if (!/^\d+$/.test(text)) throw new UsageError(`--seed ${text} is not a non-negative integer`);
    args.seed = Number(text);
  },
  '--format': (text, args) => {
    if (text !== 'table' && text !== 'json') throw new UsageError(`--format ${text}: expected table or json`);
    args.format = text;
  },
  '--start': (text, args) => {
    const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(ms)) throw new UsageError(`--start ${text} is not an ISO-8601 time like 2026-12-07T09:00:00Z`);
    args.startMs = ms;
  },
  '--slo': (text, args) => {
    const slo = parseSlo(text);
    if (slo === null) throw new UsageError(`--slo ${text}: expected p50, p95 or p99 = a duration, like p95=500ms`);
    args.slo = slo;
  },
};

/** Parses the arguments after `simulate`; throws UsageError naming the problem. */
export function parseSimulateArgs(argv: readonly string[], nowMs = Date.now()): SimulateArgs {
  const args: Mutable<SimulateArgs> = { stacks: [], compare: false, trace: '', durationMs: null, seed: 1, out: null, format: 'table', startMs: Math.floor(nowMs / 1000) * 1000, slo: null };
  const stacks = args.stacks as string[];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--compare') {
      args.compare = true;
      while (argv[i + 1] !== undefined && !(argv[i + 1] ?? '').startsWith('--')) stacks.push(argv[++i] ?? '');
      continue;
    }
    const set = OPTIONS[arg];
    if (set === undefined) throw new UsageError(`unknown option ${arg}`);
    const text = argv[++i];
    if (text === undefined || text.startsWith('--')) throw new UsageError(`${arg} needs a value`);
    set(text, args);
  }
  if (stacks.length === 0) throw new UsageError('--stack (or --compare a.yml b.yml) is required');
  if (args.compare && stacks.length < 2) throw new UsageError('--compare needs at least two stack files');
  if (!args.compare && stacks.length > 1) throw new UsageError('one --stack; use --compare for several');
  if (args.trace === '') throw new UsageError('--trace is required');
  return args;
}

/** Writes the run's files; the events' times are the trace's, moved to start at `startMs` (wall clock). */
function writeOut(dir: string, result: RunResult, startMs: number): void {
  mkdirSync(dir, { recursive: true });
  const events = result.events.map((e) => ({ ...e, time: startMs + e.time }));
  writeFileSync(join(dir, 'events.csv'), eventsToCsv(events));
  writeFileSync(join(dir, 'events.json'), `${JSON.stringify(events, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summaryJson(result), null, 2)}\n`);
  writeFileSync(join(dir, 'chart.svg'), renderChart(result.timeline, `${basename(result.stack)} on ${result.trace} (alerting ${result.alerting})`, result.endMs, result.functions.length));
}

/**
 * `alert-scaler simulate ...`: returns the exit code: 0 done, 2 usage or bad input (the
 * message says what and where), 3 an --slo that some function meets in no run, 1 an
 * unexpected failure.
 */
export async function runSimulate(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(`${SIMULATE_USAGE}\n`);
    return 0;
  }
  let args: SimulateArgs;
  try {
    args = parseSimulateArgs(argv);
  } catch (e) {
    err(`${(e as Error).message}\n${SIMULATE_USAGE}\n`);
    return 2;
  }
  const config = configSchema.parse({});
  const context = {
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    shipped: () => shippedAlerting(packageRoot()),
  };
  try {
    const stacks: SimStack[] = args.stacks.map((path) => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read stack file ${path}: ${(e as Error).message}`);
      }
      return parseSimStack(text, path, context);
    });
    const results: RunResult[] = [];
    for (const stack of stacks) {
      const trace = openTrace(args.trace, stack.functions.map((f) => f.name), new Random(args.seed).fork(0));
      results.push(await simulate({ stack, trace, seed: args.seed, durationMs: args.durationMs, keepEvents: args.out !== null, config }));
    }
    if (args.out !== null) {
      const dir = args.out;
      if (results.length === 1 && results[0] !== undefined) writeOut(dir, results[0], args.startMs);
      else results.forEach((r, i) => writeOut(join(dir, `${i + 1}-${basename(r.stack).replace(/\.ya?ml$/, '')}`), r, args.startMs));
    }
    const verdict = args.slo === null ? null : sloVerdict(results, args.slo);
    const notes = {
      dashes: results.flatMap((r, i) => explainDashes(r, (stacks[i] as SimStack).alerting, args.compare)),
      warnings: stacks.flatMap((stack) => capacityWarnings(stack, specDefaultsOf(context.policyDefaults))),
      slo: verdict?.lines ?? [],
    };
    if (args.format === 'json') out(`${JSON.stringify(args.compare ? compareJson(results) : summaryJson(results[0] as RunResult), null, 2)}\n`);
    else out(args.compare ? formatCompare(results, notes) : formatTable(results[0] as RunResult, notes));
    if (args.format === 'json') for (const line of [...notes.warnings, ...notes.slo]) err(`${line}\n`);
    return verdict?.met === false ? 3 : 0;
  } catch (e) {
    if (e instanceof UsageError || isAppError(e, 'CONFIG_INVALID', 'TRACE_INVALID')) {
      err(`${(e as Error).message}\n`);
      return 2;
    }
    err(`simulation failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
