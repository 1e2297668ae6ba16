import { dirname, resolve } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { z } from 'zod';
import { AppError } from '../../errors.js';

const stringMap = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .transform((map) => Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)])));

const functionSchema = z.looseObject({
  /** The process that serves one replica: a command line (run by /bin/sh) or an argv list. */
  command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  namespace: z.string().min(1).optional(),
  labels: stringMap.default({}),
  annotations: stringMap.default({}),
  environment: stringMap.default({}),
});

const stackSchema = z.looseObject({
  version: z.union([z.string(), z.number()]).optional(),
  provider: z.unknown().optional(),
  functions: z.record(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'function names are DNS labels: a-z, 0-9, -'), functionSchema),
});

/** One function of a stack file, ready to run. */
export interface StackFunction {
  readonly name: string;
  readonly namespace: string;
  /** argv of one replica process. */
  readonly argv: readonly string[];
  /** Working directory: the stack file's folder. */
  readonly cwd: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * Parses a faas-cli style stack file (`functions: <name>: {command, labels, annotations,
 * environment}`); `version`, `provider` and faas-cli keys such as `lang` are accepted.
 */
export function parseStack(text: string, path: string, defaultNamespace: string): StackFunction[] {
  let raw: unknown;
  try {
    raw = loadYaml(text);
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `stack file ${path} is not valid YAML`, { cause: err });
  }
  const result = stackSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new AppError('CONFIG_INVALID', `invalid stack file:\n  - ${problems.join('\n  - ')}`, { details: { problems } });
  }
  const cwd = dirname(resolve(path));
  return Object.entries(result.data.functions).map(([name, fn]) => ({
    name,
    namespace: fn.namespace ?? defaultNamespace,
    argv: typeof fn.command === 'string' ? ['/bin/sh', '-c', `exec ${fn.command}`] : fn.command,
    cwd,
    labels: fn.labels,
    annotations: fn.annotations,
    environment: fn.environment,
  }));
}
