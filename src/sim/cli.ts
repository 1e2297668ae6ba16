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
import { parseSimStack, type SimStack } from './stack.js';
import { openTrace } from './trace.js';

export const SIMULATE_USAGE = `usage: alert-scaler simulate --stack stack.yml --trace <file | builtin:NAME> [--duration D] [--seed N] [--out DIR] [--format table|json]
       alert-scaler simulate --compare a.yml b.yml ... --trace <file | builtin:NAME> [same options]
  Replays a load trace through the engine on a virtual clock and reports, per function,
  calls served, queued, refused (503) and timed out (504), cold starts, wait and latency
  percentiles and replica-seconds.
  --trace     a CSV (time,function[,duration] | start,function,count | Azure Functions 2019
              HashOwner,HashApp,HashFunction,Trigger,1..1440) or builtin:step, builtin:spike,
              builtin:diurnal[:MEAN], builtin:sparse, builtin:poisson:RATE
  --duration  how much to simulate (Go duration: 10m, 24h); the trace's length by default
  --seed      seed of every random draw (default 1): same input and seed, same output
  --out       also write events.csv, events.json, summary.json and chart.svg into DIR
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
}

class UsageError extends Error {}

/** Parses the arguments after `simulate`; throws UsageError naming the problem. */
export function parseSimulateArgs(argv: readonly string[]): SimulateArgs {
  const stacks: string[] = [];
  let compare = false;
  let trace = '';
  let durationMs: number | null = null;
  let seed = 1;
  let out: string | null = null;
  let format: 'table' | 'json' = 'table';
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--stack') stacks.push(value(++i, arg));
    else if (arg === '--compare') {
      compare = true;
      while (argv[i + 1] !== undefined && !(argv[i + 1] ?? '').startsWith('--')) stacks.push(argv[++i] ?? '');
    } else if (arg === '--trace') trace = value(++i, arg);
    else if (arg === '--duration') {
      const text = value(++i, arg);
      durationMs = parseDurationMs(text);
      if (durationMs === null || durationMs <= 0) throw new UsageError(`--duration ${text} is not a positive duration like 10m`);
    } else if (arg === '--seed') {
      const text = value(++i, arg);
      if (!/^\d+$/.test(text)) throw new UsageError(`--seed ${text} is not a non-negative integer`);
      seed = Number(text);
    } else if (arg === '--out') out = value(++i, arg);
    else if (arg === '--format') {
      const text = value(++i, arg);
      if (text !== 'table' && text !== 'json') throw new UsageError(`--format ${text}: expected table or json`);
      format = text;
    } else throw new UsageError(`unknown option ${arg}`);
  }
  if (stacks.length === 0) throw new UsageError('--stack (or --compare a.yml b.yml) is required');
  if (compare && stacks.length < 2) throw new UsageError('--compare needs at least two stack files');
  if (!compare && stacks.length > 1) throw new UsageError('one --stack; use --compare for several');
  if (trace === '') throw new UsageError('--trace is required');
  return { stacks, compare, trace, durationMs, seed, out, format };
}

function writeOut(dir: string, result: RunResult): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'events.csv'), eventsToCsv(result.events));
  writeFileSync(join(dir, 'events.json'), `${JSON.stringify(result.events, null, 2)}\n`);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summaryJson(result), null, 2)}\n`);
  writeFileSync(join(dir, 'chart.svg'), renderChart(result.timeline, `${basename(result.stack)} on ${result.trace} (alerting ${result.alerting})`, result.endMs));
}

/**
 * `alert-scaler simulate ...`: returns the exit code: 0 done, 2 usage or bad input (the
 * message says what and where), 1 an unexpected failure.
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
      if (results.length === 1 && results[0] !== undefined) writeOut(dir, results[0]);
      else results.forEach((r, i) => writeOut(join(dir, `${i + 1}-${basename(r.stack).replace(/\.ya?ml$/, '')}`), r));
    }
    if (args.compare) out(args.format === 'json' ? `${JSON.stringify(compareJson(results), null, 2)}\n` : formatCompare(results));
    else if (results[0] !== undefined) out(args.format === 'json' ? `${JSON.stringify(summaryJson(results[0]), null, 2)}\n` : formatTable(results[0]));
    return 0;
  } catch (e) {
    if (e instanceof UsageError || isAppError(e, 'CONFIG_INVALID', 'TRACE_INVALID')) {
      err(`${(e as Error).message}\n`);
      return 2;
    }
    err(`simulation failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
