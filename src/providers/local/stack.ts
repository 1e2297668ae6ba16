import { dirname, resolve } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { isSimpleCommand, shellArgv } from './command.js';

const stringMap = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .transform((map) => Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)])));

const functionSchema = z.looseObject({
  /** The process that serves one replica: a command line (run by /bin/sh) or an argv list. */
  command: z.union([z.string().regex(/\S/, 'command is blank'), z.array(z.string().min(1)).min(1)]),
  namespace: z.string().min(1).optional(),
  labels: stringMap.default({}),
  annotations: stringMap.default({}),
  environment: stringMap.default({}),
});

const policyNameSchema = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'policy names are DNS subdomains: a-z, 0-9, -, .');

/** `policies: <name>: {key: value}`: named policies (names as ConfigMap names: DNS subdomains). */
const policiesSchema = z.record(policyNameSchema, stringMap).default({});

const stackSchema = z.looseObject({
  version: z.union([z.string(), z.number()]).optional(),
  provider: z.unknown().optional(),
  functions: z.record(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'function names are DNS labels: a-z, 0-9, -'), functionSchema),
  policies: policiesSchema,
});

/** Named policies of a stack file: policy name → its keys and values, as written (numbers as text). */
export type StackPolicies = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** One function of a stack file, ready to run. */
export interface StackFunction {
  readonly name: string;
  readonly namespace: string;
  /** argv of one replica process (a string command: `/bin/sh -c`, see shellArgv). */
  readonly argv: readonly string[];
  /**
   * The command line when it runs with the shell as its parent (a string command that is not
   * a simple command: see isSimpleCommand); absent for argv and simple commands.
   */
  readonly shellLine?: string;
  /** Working directory: the stack file's folder. */
  readonly cwd: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly environment: Readonly<Record<string, string>>;
}

function loadStackYaml(text: string, path: string): unknown {
  try {
    return loadYaml(text);
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `stack file ${path} is not valid YAML`, { cause: err });
  }
}

function invalid(path: string, issues: ReadonlyArray<{ readonly path: readonly PropertyKey[]; readonly message: string }>): AppError {
  const problems = issues.map((issue) => `${path}: ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  return new AppError('CONFIG_INVALID', `invalid stack file:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
}

/**
 * Checks one entry of a stack file's `policies:` map (the part that reloads while the gateway
 * runs, checked entry by entry so a large map is checked in slices): its values as text, or
 * the problems, each naming the file and the key.
 */
export function checkStackPolicy(
  path: string, name: string, value: unknown,
): { ok: true; policy: Readonly<Record<string, string>> } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const named = policyNameSchema.safeParse(name);
  if (!named.success) problems.push(...describe(path, named.error.issues, ['policies', name]));
  const data = stringMap.safeParse(value);
  if (!data.success) problems.push(...describe(path, data.error.issues, ['policies', name]));
  return data.success && problems.length === 0 ? { ok: true, policy: data.data } : { ok: false, problems };
}

function describe(path: string, issues: ReadonlyArray<{ readonly path: readonly PropertyKey[]; readonly message: string }>, prefix: readonly string[]): string[] {
  return issues.map((issue) => `${path}: ${[...prefix, ...issue.path.map(String)].join('.')}: ${issue.message}`);
}

/**
 * Parses a faas-cli style stack file (`functions: <name>: {command, labels, annotations,
 * environment}`); `version`, `provider` and faas-cli keys such as `lang` are accepted, and
 * `policies:` is checked (see checkStackPolicy for its reloads).
 */
export function parseStack(text: string, path: string, defaultNamespace: string): StackFunction[] {
  const result = stackSchema.safeParse(loadStackYaml(text, path));
  if (!result.success) throw invalid(path, result.error.issues);
  const cwd = dirname(resolve(path));
  return Object.entries(result.data.functions).map(([name, fn]) => ({
    name,
    namespace: fn.namespace ?? defaultNamespace,
    argv: typeof fn.command === 'string' ? shellArgv(fn.command) : fn.command,
    ...(typeof fn.command === 'string' && !isSimpleCommand(fn.command) ? { shellLine: fn.command } : {}),
    cwd,
    labels: fn.labels,
    annotations: fn.annotations,
    environment: fn.environment,
  }));
}
