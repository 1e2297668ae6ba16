import { readFileSync } from 'node:fs';
import { createLocalProvider, startScaler, type RunningScaler } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/logger.js';
import type { ReplicaProvider } from '../src/providers/types.js';

export type { RunningScaler } from '../src/bootstrap.js';

export interface GatewayOptions {
  /** faas-cli style stack file of the local provider. */
  readonly stackPath: string;
  readonly basicAuth: { readonly user: string; readonly password: string };
  /** Further ALERT_SCALER_* settings (e.g. ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS). */
  readonly env?: Readonly<Record<string, string>>;
  /** Wraps the local provider, e.g. in a fault-injecting decorator. */
  readonly wrapProvider?: (provider: ReplicaProvider) => ReplicaProvider;
}

/**
 * Starts a real alert-scaler gateway in this process on 127.0.0.1, its function and admin
 * listeners on random free ports,
 * configured exactly as `main.ts` would be from the same environment.
 */
export async function startGateway(options: GatewayOptions): Promise<RunningScaler> {
  const readFile = (path: string): string => readFileSync(path, 'utf8');
  const config = loadConfig(
    {
      PORT: '0',
      ALERT_SCALER_ADMIN_PORT: '0',
      ALERT_SCALER_HOST: '127.0.0.1',
      ALERT_SCALER_PROVIDER: 'local',
      ALERT_SCALER_STACK: options.stackPath,
      ALERT_SCALER_BASIC_AUTH_USER: options.basicAuth.user,
      ALERT_SCALER_BASIC_AUTH_PASSWORD: options.basicAuth.password,
      ALERT_SCALER_LOG_LEVEL: 'silent',
      ...options.env,
    },
    readFile,
  );
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const local = createLocalProvider(config, logger, readFile);
  const provider = options.wrapProvider === undefined ? local : options.wrapProvider(local);
  return startScaler(config, { provider, logger, readFile });
}

/** Replica counts of one function as the gateway's system API reports them. */
export interface FunctionStatus {
  readonly replicas: number;
  readonly availableReplicas: number;
}

/** GET /system/function/:name with basic auth, on the admin listener (`adminUrl`). */
export async function functionStatus(adminUrl: string, name: string, auth: { user: string; password: string }): Promise<FunctionStatus> {
  const response = await fetch(`${adminUrl}/system/function/${encodeURIComponent(name)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` },
    signal: AbortSignal.timeout(2_000),
  });
  if (!response.ok) throw new Error(`GET /system/function/${name}: ${response.status}`);
  const body = (await response.json()) as FunctionStatus;
  return { replicas: body.replicas, availableReplicas: body.availableReplicas };
}
