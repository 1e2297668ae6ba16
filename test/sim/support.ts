import { policyDefaults, requestDefaults } from '../../src/config/defaults.js';
import { packageRoot } from '../../src/config/package-root.js';
import { configSchema } from '../../src/config/schema.js';
import { shippedAlerting } from '../../src/sim/alerting.js';
import { Random } from '../../src/sim/random.js';
import type { ScaleCall } from '../../src/sim/scale-calls.js';
import { simulate, type RunResult } from '../../src/sim/run.js';
import { parseSimStack, type SimStack } from '../../src/sim/stack.js';
import { openTrace } from '../../src/sim/trace.js';

export const config = configSchema.parse({});

/** Reads a stack file's text as the CLI does (shipped alert settings from this repository). */
export function stack(text: string, path = 'stack.yml'): SimStack {
  return parseSimStack(text, path, {
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    shipped: () => shippedAlerting(packageRoot()),
  });
}

/** Runs `text` on `trace` (a builtin or a file) with `seed`; optionally with replica samples and scale calls. */
export function run(
  text: string,
  trace: string,
  options: { seed?: number; durationMs?: number; keepEvents?: boolean; sampleEveryMs?: number; scaleCalls?: readonly ScaleCall[] } = {},
): Promise<RunResult> {
  const s = stack(text);
  const seed = options.seed ?? 1;
  return simulate({
    stack: s,
    trace: openTrace(trace, s.functions.map((f) => f.name), new Random(seed).fork(0)),
    seed,
    durationMs: options.durationMs ?? null,
    keepEvents: options.keepEvents ?? false,
    config,
    ...(options.sampleEveryMs === undefined ? {} : { sampleEveryMs: options.sampleEveryMs }),
    ...(options.scaleCalls === undefined ? {} : { scaleCalls: options.scaleCalls }),
  });
}

/** Collects every arrival of a trace (tests only: real runs stream them). */
export async function arrivals(spec: string, functions: readonly string[], seed = 1, limitMs: number | null = null): Promise<{ list: Array<{ timeMs: number; fn: number; serviceMs: number | null }>; endMs: number }> {
  const trace = openTrace(spec, functions, new Random(seed));
  const gen = trace.batches(limitMs);
  const list: Array<{ timeMs: number; fn: number; serviceMs: number | null }> = [];
  for (;;) {
    const next = await gen.next();
    if (next.done === true) return { list, endMs: next.value };
    list.push(...next.value);
  }
}
