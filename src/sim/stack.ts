import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { parseDurationMs } from '../policy/duration.js';
import { DEFAULT_TICK_MS } from '../engine/scalers.js';
import { parseRequestLimits, parseScalingPolicy, type PolicyDefaults, type RequestLimits } from '../policy/labels.js';
import { parsePolicySpec, type SpecDefaults } from '../policy/spec.js';
import { OPENFAAS_ALERTING, type AlertingModel } from './alerting.js';
import { parseDistribution, type Distribution } from './distribution.js';

/** One function of a simulated stack: its labels and its replica model. */
export interface SimFunction {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Replica start-to-ready (the scaling manager's `scale_up_delay`). */
  readonly start: Distribution;
  /** Time one request keeps its replica slot. */
  readonly service: Distribution;
  /** Replica stop time, ms. */
  readonly stopMs: number;
}

/** A stack file read for the simulator. */
export interface SimStack {
  readonly path: string;
  readonly functions: readonly SimFunction[];
  readonly alerting: AlertingModel;
  /** Time between two passes of the policy loop, ms (`simulate.tick`; the gateway's default when absent). */
  readonly policyTickMs: number;
}

/**
 * What the policy kinds fall back on without labels: the config's min and max, and `max=0`
 * (Code Engine's "unlimited") standing for the config's ceiling, as in the gateway.
 */
export function specDefaultsOf(defaults: PolicyDefaults): SpecDefaults {
  return { minReplicas: defaults.minReplicas, maxReplicas: defaults.maxReplicas, maxReplicasCeiling: defaults.maxReplicasCeiling ?? defaults.maxReplicas };
}

/** Replica model of a function without a `simulate:` block (or a part of it). */
export const DEFAULT_START = '1s';
export const DEFAULT_SERVICE = '100ms';

const stringMap = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .transform((map) => Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)])));
const text = z.union([z.string(), z.number()]).transform(String);

const functionSchema = z.looseObject({
  namespace: z.string().min(1).optional(),
  labels: stringMap.default({}),
  annotations: stringMap.default({}),
  simulate: z.strictObject({ start: text.optional(), service: text.optional(), stop: text.optional() }).optional(),
});

const alertingKeys = {
  scrape_interval: 'scrapeIntervalMs',
  evaluation_interval: 'evaluationIntervalMs',
  rate_window: 'rateWindowMs',
  for: 'forMs',
  group_wait: 'groupWaitMs',
  group_interval: 'groupIntervalMs',
  repeat_interval: 'repeatIntervalMs',
} as const;

const stackSchema = z.looseObject({
  functions: z.record(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'function names are DNS labels: a-z, 0-9, -'), functionSchema),
  simulate: z
    .strictObject({
      alerting: z.enum(['alert-scaler', 'openfaas']).default('alert-scaler'),
      threshold: z.number().positive().optional(),
      tick: text.optional(),
      ...Object.fromEntries(Object.keys(alertingKeys).map((k) => [k, text.optional()])),
    })
    .optional(),
});

/** What reading a stack needs besides its text. */
export interface StackContext {
  readonly defaultNamespace: string;
  readonly policyDefaults: PolicyDefaults;
  readonly requestDefaults: RequestLimits;
  /** The shipped alerting settings (`simulate.alerting: alert-scaler`, the default). */
  readonly shipped: () => AlertingModel;
}

type StackData = z.infer<typeof stackSchema>;
type FunctionData = StackData['functions'][string];
type SimulateBlock = StackData['simulate'];

/**
 * Parses a stack file for the simulator: the local provider's format (`command` is
 * accepted and not needed), each function's `simulate: {start, service, stop}` and the
 * stack's `simulate:` block (`alerting: alert-scaler | openfaas`, per-setting overrides
 * and `tick`, the policy loop's interval). Throws CONFIG_INVALID listing every problem, each naming where it is.
 */
export function parseSimStack(source: string, path: string, context: StackContext): SimStack {
  const data = readStackData(source, path);
  const problems: string[] = [];
  const functions = Object.entries(data.functions).map(([name, fn]) => simFunction(name, fn, `${path}: functions.${name}`, context, problems));
  if (functions.length === 0) problems.push(`${path}: functions: the stack has no function`);
  const alerting = alertingOf(data.simulate, path, context, problems);
  const policyTickMs = tickOf(data.simulate, path, problems);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', `invalid stack file:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
  return { path, functions, alerting, policyTickMs };
}

/** The YAML text checked against the stack schema; CONFIG_INVALID for bad YAML or a bad shape (every issue listed). */
function readStackData(source: string, path: string): StackData {
  let raw: unknown;
  try {
    raw = loadYaml(source);
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `stack file ${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = stackSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new AppError('CONFIG_INVALID', `invalid stack file:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
  }
  return result.data;
}

/** One function: its labels checked by the gateway's parsers and its replica model; its problems (named by `where`) go into `problems`. */
function simFunction(name: string, fn: FunctionData, where: string, context: StackContext, problems: string[]): SimFunction {
  const policy = parseScalingPolicy(fn.labels, fn.annotations, context.policyDefaults);
  if (!policy.ok) problems.push(...policy.problems.map((p) => `${where}: ${p}`));
  const spec = parsePolicySpec(fn.labels, fn.annotations, specDefaultsOf(context.policyDefaults));
  if (!spec.ok) problems.push(...spec.problems.map((p) => `${where}: ${p}`));
  const limits = parseRequestLimits(fn.labels, fn.annotations, context.requestDefaults);
  if (!limits.ok) problems.push(...limits.problems.map((p) => `${where}: ${p}`));
  const dist = (key: 'start' | 'service', fallback: string): Distribution => {
    const value = fn.simulate?.[key] ?? fallback;
    const parsed = parseDistribution(value);
    if (parsed === null) problems.push(`${where}.simulate.${key}: ${JSON.stringify(value)} is not a duration (300ms), exp:MEAN or uniform:LOW-HIGH`);
    return parsed ?? { kind: 'fixed', ms: 0 };
  };
  const stop = fn.simulate?.stop ?? '0s';
  const stopMs = parseDurationMs(stop);
  if (stopMs === null) problems.push(`${where}.simulate.stop: ${JSON.stringify(stop)} is not a duration`);
  return {
    name,
    namespace: fn.namespace ?? context.defaultNamespace,
    labels: fn.labels,
    annotations: fn.annotations,
    start: dist('start', DEFAULT_START),
    service: dist('service', DEFAULT_SERVICE),
    stopMs: stopMs ?? 0,
  };
}

/** The alerting model: the shipped settings or OpenFaaS's, with the block's overrides (then named `<name>+overrides`). */
function alertingOf(block: SimulateBlock, path: string, context: StackContext, problems: string[]): AlertingModel {
  let alerting: AlertingModel = OPENFAAS_ALERTING;
  if (block?.alerting !== 'openfaas') {
    try {
      alerting = context.shipped();
    } catch (err) {
      problems.push(`${path}: simulate.alerting: ${(err as Error).message}`);
    }
  }
  const overrides: Record<string, number> = {};
  for (const [key, target] of Object.entries(alertingKeys)) {
    const value = (block as Record<string, unknown> | undefined)?.[key];
    if (typeof value !== 'string') continue;
    const ms = parseDurationMs(value);
    if (ms === null) problems.push(`${path}: simulate.${key}: ${JSON.stringify(value)} is not a duration`);
    else overrides[target] = ms;
  }
  if (block?.threshold !== undefined) overrides['threshold'] = block.threshold;
  const named = Object.keys(overrides).length > 0 ? `${alerting.name}+overrides` : alerting.name;
  return { ...alerting, ...overrides, name: named };
}

/** The policy loop's interval, ms: `simulate.tick`, else the gateway's default. */
function tickOf(block: SimulateBlock, path: string, problems: string[]): number {
  if (block?.tick === undefined) return DEFAULT_TICK_MS;
  const ms = parseDurationMs(block.tick);
  if (ms === null || ms <= 0) {
    problems.push(`${path}: simulate.tick: ${JSON.stringify(block.tick)} is not a positive duration`);
    return DEFAULT_TICK_MS;
  }
  return ms;
}
