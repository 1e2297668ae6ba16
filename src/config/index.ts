import { load as loadYaml } from 'js-yaml';
import { AppError } from '../errors.js';
import { isFileTooLarge, readBounded, type ReadFile } from './files.js';
import { configSchema, ENV_KEYS, type Config } from './schema.js';

export type { Config } from './schema.js';
export { ENV_KEYS } from './schema.js';
export type { ReadFile } from './files.js';

function fail(problems: string[]): never {
  throw new AppError('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, {
    details: { problems },
  });
}

function readConfigFile(path: string, readFile: ReadFile, maxBytes: number): Record<string, unknown> {
  let text: string;
  try {
    text = readBounded(readFile, path, maxBytes, 'ALERT_SCALER_CONFIG');
  } catch (err) {
    if (isFileTooLarge(err)) throw err;
    fail([`ALERT_SCALER_CONFIG: cannot read ${path}: ${(err as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = loadYaml(text);
  } catch (err) {
    fail([`ALERT_SCALER_CONFIG: ${path} is not valid YAML: ${(err as Error).message}`]);
  }
  if (parsed === undefined || parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) fail([`ALERT_SCALER_CONFIG: ${path} must be a YAML mapping`]);
  return parsed as Record<string, unknown>;
}

/**
 * Builds the configuration from an optional YAML file (`ALERT_SCALER_CONFIG`) and the
 * environment (which wins). Every problem is listed in one CONFIG_INVALID error; nothing
 * falls back silently. The result is frozen.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, readFile: ReadFile): Config {
  const input: Record<string, unknown> = {};
  const sourceOf = new Map<string, string>();
  const configPath = env['ALERT_SCALER_CONFIG'];
  if (configPath !== undefined && configPath !== '') {
    // The file cannot raise its own limit: the environment's, else the default.
    const limit = configSchema.shape.maxFileBytes.safeParse(env['ALERT_SCALER_MAX_FILE_BYTES'] || undefined);
    const maxBytes = limit.success ? limit.data : configSchema.shape.maxFileBytes.parse(undefined);
    for (const [key, value] of Object.entries(readConfigFile(configPath, readFile, maxBytes))) {
      input[key] = value;
      sourceOf.set(key, `${configPath}: ${key}`);
    }
  }
  for (const [envName, key] of Object.entries(ENV_KEYS)) {
    const value = env[envName];
    if (value !== undefined && value !== '') {
      input[key] = value;
      sourceOf.set(key, envName);
    }
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    fail(
      result.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '');
        if (issue.code === 'unrecognized_keys') return `${configPath ?? 'config'}: unknown keys ${issue.keys.join(', ')}`;
        return `${sourceOf.get(key) ?? key}: ${issue.message}`;
      }),
    );
  }
  const config = result.data;
  // With basic auth and no host of its own, listen on every interface (see `host`).
  if (!sourceOf.has('host') && config.basicAuthUser !== undefined) config.host = '0.0.0.0';
  const problems: string[] = [];
  if ((config.basicAuthPassword !== undefined || config.basicAuthPasswordFile !== undefined) && config.basicAuthUser === undefined) {
    problems.push('ALERT_SCALER_BASIC_AUTH_USER: required when a basic auth password is set');
  }
  if (config.basicAuthUser !== undefined && config.basicAuthPassword === undefined && config.basicAuthPasswordFile === undefined) {
    problems.push('ALERT_SCALER_BASIC_AUTH_PASSWORD: required (or ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE) when a user is set');
  }
  if (config.defaultMinReplicas > config.defaultMaxReplicas) {
    problems.push(`defaultMinReplicas (${config.defaultMinReplicas}) is greater than defaultMaxReplicas (${config.defaultMaxReplicas})`);
  }
  if (config.port !== 0 && config.port === config.adminPort && (config.adminHost ?? config.host) === config.host) {
    problems.push(`ALERT_SCALER_ADMIN_PORT: ${config.adminPort} is also PORT; the admin listener needs a port of its own`);
  }
  if (config.leaseRenewMs !== undefined && config.leaseRenewMs * 3 >= config.leaseDurationSeconds * 1000 * 2) {
    problems.push(`ALERT_SCALER_LEASE_RENEW_MS: ${config.leaseRenewMs} must be below the renew deadline, 2/3 of ALERT_SCALER_LEASE_DURATION_SECONDS (${config.leaseDurationSeconds} s)`);
  }
  if ((config.gatewayIndex ?? 0) >= (config.gatewayCount ?? 1)) {
    problems.push(`ALERT_SCALER_GATEWAY_INDEX: ${config.gatewayIndex} must be below ALERT_SCALER_GATEWAY_COUNT (${config.gatewayCount ?? 1})`);
  }
  problems.push(...workerProblems(config));
  if (problems.length > 0) fail(problems);
  return Object.freeze(config);
}

/** What stops `workers` > 1: a provider other than Kubernetes, a static gateway count or index. */
function workerProblems(config: Config): string[] {
  if (config.workers <= 1) return [];
  const problems: string[] = [];
  if (config.provider !== 'kubernetes') {
    problems.push(`ALERT_SCALER_WORKERS: ${config.workers} needs ALERT_SCALER_PROVIDER=kubernetes (local replicas belong to one process)`);
  }
  if (config.gatewayCount !== undefined || config.gatewayIndex !== undefined) {
    problems.push(`ALERT_SCALER_WORKERS: ${config.workers} cannot go with ALERT_SCALER_GATEWAY_COUNT/INDEX (workers are members found through their Leases)`);
  }
  return problems;
}

/** Reads the basic-auth password from the config or its file; undefined when auth is off. */
export function resolveBasicAuth(config: Config, readFile: ReadFile): { user: string; password: string } | undefined {
  if (config.basicAuthUser === undefined) return undefined;
  if (config.basicAuthPassword !== undefined) return { user: config.basicAuthUser, password: config.basicAuthPassword };
  const file = config.basicAuthPasswordFile ?? '';
  let password: string;
  try {
    password = readBounded(readFile, file, config.maxFileBytes, 'ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE').trim();
  } catch (err) {
    if (isFileTooLarge(err)) throw err;
    fail([`ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE: cannot read ${file}: ${(err as Error).message}`]);
  }
  if (password === '') fail([`ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE: ${file} is empty`]);
  return { user: config.basicAuthUser, password };
}
