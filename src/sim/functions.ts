import { policyDefaults, requestDefaults } from '../config/defaults.js';
import type { Config } from '../config/schema.js';
import type { FunctionRef } from '../core/ref.js';
import type { Engine } from '../engine/index.js';
import { AppError } from '../errors.js';
import { parseRequestLimits, parseScalingPolicy, type RequestLimits } from '../policy/labels.js';
import { functionLabel } from '../providers/types.js';
import type { Random } from './random.js';
import type { ScaleCall } from './scale-calls.js';
import type { SimStack } from './stack.js';
import { FunctionCounters } from './stats.js';
import { isAlertDriven } from '../policy/index.js';

/** Window over which a function's calls are compared with the alert threshold for `reactionMs`. */
const OVERLOAD_WINDOW_MS = 10_000;

/** One function of the run: what its calls need and what they count. */
export interface FunctionRun {
  /** Its place in the stack (and in the trace's arrivals). */
  readonly index: number;
  readonly ref: FunctionRef;
  /** Its name as the gateway labels it (metrics, events, alerts). */
  readonly label: string;
  readonly wakeTimeoutMs: number;
  readonly limits: RequestLimits;
  readonly serviceRandom: Random;
  readonly counters: FunctionCounters;
  /** The overload window being counted (its start divided by OVERLOAD_WINDOW_MS) and its calls. */
  overloadWindow: number;
  overloadCount: number;
  /** Start of the first window over the alert threshold, ms; null until one is. */
  overloadAt: number | null;
  /** From `overloadAt` to the first alert scale-up after it, ms; null until both happened. */
  reactionMs: number | null;
  /** Firing notifications the modelled Alertmanager delivered for it. */
  alertsFired: number;
}

/** One FunctionRun per function of the stack, in stack order; their labels were validated when the stack was read. */
export function functionRuns(stack: SimStack, config: Config, root: Random): FunctionRun[] {
  return stack.functions.map((fn, index) => {
    const limits = parseRequestLimits(fn.labels, fn.annotations, requestDefaults(config));
    const policy = parseScalingPolicy(fn.labels, fn.annotations, policyDefaults(config));
    if (!limits.ok || !policy.ok) throw new Error(`function ${fn.name}: labels were not validated`);
    const ref = { name: fn.name, namespace: fn.namespace };
    return {
      index,
      ref,
      label: functionLabel(ref, config.defaultNamespace),
      wakeTimeoutMs: policy.policy.wakeTimeoutMs,
      limits: limits.limits,
      serviceRandom: root.fork(10_000 + index),
      counters: new FunctionCounters(),
      overloadWindow: 0,
      overloadCount: 0,
      overloadAt: null,
      reactionMs: null,
      alertsFired: 0,
    };
  });
}

/** The stack indices of the functions whose policy kind is `rps` (the ones the alert path watches). */
export function rpsFunctions(stack: SimStack, engine: Engine): number[] {
  return stack.functions.flatMap((fn, i) => {
    const spec = engine.policies.of(`${fn.namespace}/${fn.name}`, fn.labels, fn.annotations).spec;
    return spec.ok && isAlertDriven(spec.spec.kind) ? [i] : [];
  });
}

/** The scale calls with their functions' refs; CONFIG_INVALID for a call naming no function of the stack. */
export function resolveScaleCalls(calls: readonly ScaleCall[], fns: readonly FunctionRun[]): Array<{ atMs: number; ref: FunctionRef; replicas: number }> {
  return calls.map((call) => {
    const f = fns.find((g) => g.ref.name === call.function);
    if (f === undefined) throw new AppError('CONFIG_INVALID', `scale call at ${call.atMs} ms: no function ${JSON.stringify(call.function)} in the stack`);
    return { atMs: call.atMs, ref: f.ref, replicas: call.replicas };
  });
}

/** Counts a call arriving at `now` (ms) in its window; the first window over `threshold` calls per second sets `overloadAt`. */
export function noteOverload(f: FunctionRun, now: number, threshold: number): void {
  const window = Math.floor(now / OVERLOAD_WINDOW_MS);
  if (window !== f.overloadWindow) {
    f.overloadWindow = window;
    f.overloadCount = 0;
  }
  f.overloadCount += 1;
  if (f.overloadAt === null && f.overloadCount > (threshold * OVERLOAD_WINDOW_MS) / 1000) f.overloadAt = window * OVERLOAD_WINDOW_MS;
}
