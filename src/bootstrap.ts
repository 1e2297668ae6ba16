import type http from 'node:http';
import type { Registry } from 'prom-client';
import type { AlertScaler } from './alerts/alert-scaler.js';
import type { AlertStateStore } from './alerts/state-store.js';
import { createGatewayApp } from './bootstrap/app.js';
import { gracefulClose } from './bootstrap/close.js';
import { listenBoth } from './bootstrap/listeners.js';
import { withMergedMetrics } from './bootstrap/workers.js';
import { createProviderSetup, startProvider } from './bootstrap/provider.js';
import { createAsync, type AsyncParts } from './async/index.js';
import { composeGateway } from './compose/gateway.js';
import { resolveBasicAuth, type Config, type ReadFile } from './config/index.js';
import { readTextFile } from './config/files.js';
import type { Engine } from './engine/index.js';
import type { Scalers } from './engine/scalers.js';
import { createLogger, type Logger } from './log/logger.js';
import { createMetrics, type Metrics } from './metrics/registry.js';
import type { Ownership, ProviderSetup } from './providers/setup.js';
import type { FunctionRef, ReplicaProvider } from './providers/types.js';

export { namedPolicyDefaults, policyDefaults, requestDefaults, specDefaults } from './config/defaults.js';
export { packageRoot } from './config/package-root.js';
export { createLocalProvider } from './bootstrap/provider.js';

/** Parts that tests and the e2e suite may supply instead of the defaults. */
export interface ScalerOverrides {
  readonly provider?: ReplicaProvider;
  readonly logger?: Logger;
  readonly registry?: Registry;
  readonly store?: AlertStateStore;
  readonly readFile?: ReadFile;
  /** Which functions this gateway decides for; the provider setup's (Kubernetes: bucket Leases), else all. */
  readonly ownership?: Ownership;
  /**
   * A cluster worker's (config `workers` > 1) answer to `/metrics`: every worker's metrics
   * merged by the primary (src/bootstrap/workers.ts); unset, this process's own.
   */
  readonly scrape?: () => Promise<string | null>;
}

/** A running scaler. */
export interface RunningScaler {
  /** The function listener: `/function/*`, `/healthz`, `/readyz`, `/metrics`. */
  readonly url: string;
  readonly port: number;
  /** The admin listener: `/system/*` (the webhook included), `/ui/`, and `/function/*` sandboxed. */
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly provider: ReplicaProvider;
  readonly metrics: Metrics;
  /** Runs every `scale.zero` function's idle check now; the idle deadlines run by themselves. */
  readonly idler: { tick(): Promise<FunctionRef[]> };
  /** The webhook's logic (alerts → the functions' scalers). */
  readonly alertScaler: AlertScaler;
  /** Dispatcher (the proxy's only source of replicas), change cycle, drain and event log. */
  readonly engine: Engine;
  /** One scaler per function, fed by events (src/engine/scalers.ts). */
  readonly scalers: Scalers;
  /** The function listener's server. */
  readonly server: http.Server;
  /** The admin listener's server. */
  readonly adminServer: http.Server;
  /**
   * Graceful stop of both listeners: no new connections; in-flight requests get
   * `shutdownTimeoutMs` to finish, then every call without an answer yet (running on a
   * replica or waiting in a dispatch queue) is answered 503 SHUTTING_DOWN with Retry-After,
   * a call whose answer has begun is cut, and the remaining connections close; replicas stop.
   */
  close(): Promise<void>;
}

/**
 * Wires everything and listens: config → logger → metrics → the provider setup
 * (src/bootstrap/provider.ts) → the engine and the scalers (src/compose/gateway.ts) → the app
 * (src/bootstrap/app.ts) → the provider started → both listeners → every function evaluated
 * once; `close` is src/bootstrap/close.ts.
 */
export async function startScaler(config: Config, overrides: ScalerOverrides = {}): Promise<RunningScaler> {
  const readFile: ReadFile = overrides.readFile ?? ((path, maxBytes) => readTextFile(path, maxBytes ?? config.maxFileBytes));
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const metrics = createMetrics(overrides.registry);
  const auth = resolveBasicAuth(config, readFile);
  if (auth === undefined) logger.warn('basic auth is off: /system/* is open to anyone who can reach this port', { hint: 'set ALERT_SCALER_BASIC_AUTH_USER and ALERT_SCALER_BASIC_AUTH_PASSWORD' });
  /** The function listener as other gateways reach it: published once it listens. */
  let advertised: string | null = null;
  const setup: ProviderSetup = overrides.provider !== undefined ? { provider: overrides.provider } : await createProviderSetup(config, logger, readFile, metrics);
  const parts = composeGateway(config, setup, {
    logger,
    metrics,
    ...(overrides.store === undefined ? {} : { store: overrides.store }),
    ...(overrides.ownership === undefined ? {} : { ownership: overrides.ownership }),
    address: () => advertised,
    asyncBacklog: (ref) => asyncCalls?.backlog(ref) ?? 0,
  });
  const { provider, engine, scaler } = parts;
  // Async invocations: the queue is opened (the embedded log replayed) before the listeners.
  const asyncCalls: AsyncParts | undefined = await createAsync(config, { dispatcher: engine.dispatcher, provider, metrics, logger });
  let ready = false;
  const app = createGatewayApp(config, parts, { logger, metrics, auth, isReady: () => ready, asyncCalls });
  const unsubscribe = await startProvider(provider, setup, metrics, config.defaultNamespace);
  const served = overrides.scrape === undefined ? app.app : withMergedMetrics(app.app, overrides.scrape, metrics.registry.contentType);
  const listeners = await listenBoth(served, config);
  const { port, adminPort } = listeners;
  // A worker among several is reached on its own port: the shared one hands a call to any of them.
  advertised = advertisedUrl(config, listeners.own?.port ?? port);
  // Every function read and evaluated once (a top-up to min happens now); then events drive it.
  await scaler.start();
  await app.recorder.start();
  asyncCalls.listening(listeners.own === null ? [port, adminPort] : [port, adminPort, listeners.own.port]);
  asyncCalls.start();
  ready = true;
  logger.info('listening', { port, host: config.host, adminPort, adminHost: listeners.adminHost, provider: provider.kind, ...(listeners.own === null ? {} : { ownPort: listeners.own.port, advertised }) });
  const graceful = gracefulClose({ parts, app, listeners, setup, unsubscribe, notReady: () => (ready = false), logger, shutdownTimeoutMs: config.shutdownTimeoutMs, drainAsync: (ms) => asyncCalls.drain(ms) });
  // Calls still being delivered are not acked: delivered again after the next start.
  const close = (): Promise<void> => graceful().then(() => asyncCalls.close());
  const { server, adminServer, url, adminUrl } = listeners;
  return { url, port, adminUrl, adminPort, provider, metrics, idler: scaler.idler, alertScaler: scaler.alerts, engine, scalers: scaler.scalers, server, adminServer, close };
}

/** The function listener's URL for other gateways: the pod IP (POD_IP) else the host it binds, unless that is a wildcard; null then. */
function advertisedUrl(config: Config, port: number): string | null {
  const host = config.podIp ?? config.host;
  if (host === '0.0.0.0' || host === '::' || host === '') return null;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
