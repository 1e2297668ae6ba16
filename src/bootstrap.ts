import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { AlertScaler } from './alerts/alert-scaler.js';
import { AlertSignals } from './alerts/signals.js';
import { MemoryAlertStateStore, type AlertStateStore } from './alerts/state-store.js';
import { namedPolicyDefaults, policyDefaults, requestDefaults, specDefaults } from './config/defaults.js';
import { resolveBasicAuth, type Config, type ReadFile } from './config/index.js';
import { isFileTooLarge, readBounded, readTextFile } from './config/files.js';
import { packageRoot } from './config/package-root.js';
import { AppError } from './errors.js';
import { LocalIdleSource, PrometheusIdleSource } from './gateway/idler.js';
import { InvocationLog } from './engine/activity.js';
import { createLogger, type Logger } from './log/logger.js';
import { createMetrics, type Metrics } from './metrics/registry.js';
import { parseScalingPolicy } from './policy/labels.js';
import { LocalProvider } from './providers/local/index.js';
import { StackPolicySource } from './providers/local/policies.js';
import { NamedPolicyProvider } from './engine/named-policies.js';
import { policyNameOf } from './policy/named.js';
import { parseStack } from './providers/local/stack.js';
import type { ProviderSetup } from './providers/setup.js';
import { functionLabel, type FunctionRef, type ReplicaProvider } from './providers/types.js';
import { systemClock } from './core/clock.js';
import { createEngine, type Engine } from './engine/index.js';
import type { Scalers } from './engine/scalers.js';
import { createScaler } from './compose/scaler.js';
import { RemoteSignals, remoteTimeoutMs } from './engine/signals.js';
import { PrometheusRemoteLoad } from './engine/signals-prometheus.js';
import { createApp } from './server.js';
import { StatusStream } from './api/stream.js';

export { namedPolicyDefaults, policyDefaults, requestDefaults, specDefaults } from './config/defaults.js';
export { packageRoot } from './config/package-root.js';

/** How long queued calls' 503 answers get to reach their clients before the sockets close. */
const HELD_ANSWER_FLUSH_MS = 500;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The stack file of the local provider (the example stack when none is configured). */
function stackPathOf(config: Config): string {
  return config.stackPath === '' ? join(packageRoot(), 'examples', 'stack.yml') : config.stackPath;
}

/** Parts that tests and the e2e suite may supply instead of the defaults. */
export interface ScalerOverrides {
  readonly provider?: ReplicaProvider;
  readonly logger?: Logger;
  readonly registry?: Registry;
  readonly store?: AlertStateStore;
  readonly readFile?: ReadFile;
  /** Leader check for the idler; always leader by default. */
  readonly isLeader?: () => boolean;
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

/** Builds the local provider from the stack file. */
export function createLocalProvider(config: Config, logger: Logger, readFile: ReadFile): LocalProvider {
  const stackPath = stackPathOf(config);
  let text: string;
  try {
    text = readBounded(readFile, stackPath, config.maxFileBytes, 'ALERT_SCALER_STACK');
  } catch (err) {
    if (isFileTooLarge(err)) throw err;
    throw new AppError('CONFIG_INVALID', `ALERT_SCALER_STACK: cannot read ${stackPath}: ${(err as Error).message}`, { cause: err });
  }
  const functions = parseStack(text, stackPath, config.defaultNamespace);
  const defaults = policyDefaults(config);
  return new LocalProvider({
    functions,
    logger: logger.child({ component: 'local-provider' }),
    initialReplicas: (fn) => {
      const policy = parseScalingPolicy(fn.labels, fn.annotations, defaults);
      return policy.ok ? policy.policy.minReplicas : defaults.minReplicas;
    },
    healthPath: config.healthPath,
    healthIntervalMs: config.healthIntervalMs,
    startTimeoutMs: config.startTimeoutMs,
    drainGraceMs: config.drainGraceMs,
  });
}

/** One case per provider; the Kubernetes module (and client-node) loads only when chosen. */
async function createProviderSetup(config: Config, logger: Logger, readFile: ReadFile): Promise<ProviderSetup> {
  switch (config.provider) {
    case 'local': {
      // Stack functions are read once: without one naming a policy there is nothing to watch.
      const provider = createLocalProvider(config, logger, readFile);
      const named = (await provider.listFunctions()).some((fn) => policyNameOf(fn.labels, fn.annotations) !== undefined);
      return named ? { provider, policies: new StackPolicySource({ path: stackPathOf(config), maxFileBytes: config.maxFileBytes, logger }) } : { provider };
    }
    case 'kubernetes': {
      const { createKubernetesSetup } = await import('./providers/kubernetes/index.js');
      return createKubernetesSetup(config, logger);
    }
  }
}

/** Wires everything (config → logger → metrics → provider → app) and listens. */
export async function startScaler(config: Config, overrides: ScalerOverrides = {}): Promise<RunningScaler> {
  const readFile: ReadFile = overrides.readFile ?? ((path, maxBytes) => readTextFile(path, maxBytes ?? config.maxFileBytes));
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const metrics = createMetrics(overrides.registry);
  const auth = resolveBasicAuth(config, readFile);
  if (auth === undefined) logger.warn('basic auth is off: /system/* is open to anyone who can reach this port', { hint: 'set ALERT_SCALER_BASIC_AUTH_USER and ALERT_SCALER_BASIC_AUTH_PASSWORD' });
  const setup: ProviderSetup = overrides.provider !== undefined ? { provider: overrides.provider } : await createProviderSetup(config, logger, readFile);
  // Named policies overlay their labels on the provider's answers (src/providers/named-policies.ts).
  const named = setup.policies === undefined ? undefined : new NamedPolicyProvider(setup.provider, setup.policies, { logger, defaults: namedPolicyDefaults(config), defaultNamespace: config.defaultNamespace });
  const provider = named ?? setup.provider;
  if (setup.isLeader !== undefined && config.prometheusUrl === undefined) {
    logger.warn('the idler sees only this replica\'s traffic', {
      hint: 'with several gateway replicas set ALERT_SCALER_PROMETHEUS_URL so idle time counts every replica',
    });
  }
  // Holds and queue values of firing alerts: the changer's scale-down guard, the loop's hidden queue.
  const signals = new AlertSignals(systemClock, config.firingStaleSeconds * 1000);
  const engine = createEngine({
    provider,
    clock: systemClock,
    metrics,
    logger,
    defaultNamespace: config.defaultNamespace,
    policyDefaults: policyDefaults(config),
    requestDefaults: requestDefaults(config),
    eventLogSize: config.eventLogSize,
    drainTimeoutMs: config.drainTimeoutMs,
    shard: { count: config.gatewayCount, index: config.gatewayIndex },
    guard: signals,
  });
  const label = (ref: FunctionRef): string => functionLabel(ref, config.defaultNamespace);
  const detachSink = setup.attachEvents?.(engine.events);
  const isLeader = overrides.isLeader ?? setup.isLeader ?? (() => true);
  metrics.gatewayInfo.set({ gateway_index: String(config.gatewayIndex) }, 1);
  // Several gateways: the leader adds the others' load (from Prometheus) to its own view.
  const remote =
    config.gatewayCount > 1 && config.prometheusUrl !== undefined
      ? new RemoteSignals({ source: new PrometheusRemoteLoad(config.prometheusUrl, config.gatewayIndex), clock: engine.clock, logger, timeoutMs: remoteTimeoutMs(config.policyIntervalMs) })
      : undefined;
  if (config.gatewayCount > 1 && config.prometheusUrl === undefined) {
    logger.warn('the policy loop sees only this gateway\'s load', {
      hint: 'with several gateway replicas set ALERT_SCALER_PROMETHEUS_URL so policies decide on the sum over all of them',
    });
  }
  const invocations = new InvocationLog();
  const localIdle = new LocalIdleSource(invocations);
  const scaler = createScaler(engine, {
    provider,
    ...(named === undefined ? {} : { named }),
    logger,
    metrics,
    defaultNamespace: config.defaultNamespace,
    tickMs: config.policyIntervalMs,
    isLeader,
    ...(remote === undefined ? {} : { remote }),
    signals,
    store: overrides.store ?? setup.store ?? new MemoryAlertStateStore(),
    timing: { cooldownMs: config.cooldownSeconds * 1000, firingStaleMs: config.firingStaleSeconds * 1000 },
    activity: invocations,
    idleSource: config.prometheusUrl === undefined ? localIdle : new PrometheusIdleSource(config.prometheusUrl, localIdle, config.defaultNamespace, logger.child({ component: 'idler' })),
    idleRecheckMs: config.idlerIntervalSeconds * 1000,
  });
  const alertScaler = scaler.alerts;
  let ready = false;
  const stream = new StatusStream({
    provider,
    dispatcher: engine.dispatcher,
    events: engine.events,
    metrics,
    specDefaults: specDefaults(config),
    defaultNamespace: config.defaultNamespace,
    logger,
  });
  const app = createApp({
    provider,
    engine,
    alertScaler,
    dispatcher: engine.dispatcher,
    invocations,
    metrics,
    logger,
    defaultNamespace: config.defaultNamespace,
    bodyLimitBytes: config.bodyLimitBytes,
    webhookBodyLimitBytes: config.webhookBodyLimitBytes,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    trustedProxies: config.trustedProxies,
    auth,
    isReady: () => ready,
    specDefaults: specDefaults(config),
    stream,
    namespaces: config.provider === 'kubernetes' ? config.namespaces : undefined,
  });

  const unsubscribe = provider.subscribe((ref, state) => {
    metrics.serviceCount.set({ function_name: label(ref) }, state.desired);
    metrics.availableReplicas.set({ function_name: label(ref) }, state.ready);
  });
  await provider.start();
  await setup.start?.();
  for (const info of await provider.listFunctions()) {
    const fn = label(info.ref);
    metrics.invocationStarted.inc({ function_name: fn }, 0);
    metrics.serviceCount.set({ function_name: fn }, info.desired);
    metrics.availableReplicas.set({ function_name: fn }, info.ready);
  }

  const server = await listen(app.functions, config.port, config.host);
  const adminHost = config.adminHost ?? config.host;
  let adminServer: http.Server;
  try {
    adminServer = await listen(app.admin, config.adminPort, adminHost);
  } catch (err) {
    server.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const adminPort = (adminServer.address() as AddressInfo).port;
  // Every function read and evaluated once (a top-up to min happens now); then events drive it.
  await scaler.start();
  ready = true;
  logger.info('listening', { port, host: config.host, adminPort, adminHost, provider: provider.kind });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ready = false;
      // Live streams never finish by themselves: end them first, so they do not hold the close.
      stream.close();
      await scaler.stop();
      const drained = Promise.all([server, adminServer].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      server.closeIdleConnections();
      adminServer.closeIdleConnections();
      await Promise.race([drained, delay(config.shutdownTimeoutMs)]);
      // Calls still running on a replica or queued (a waking function, busy replicas) get their
      // 503 SHUTTING_DOWN (with Retry-After) before their sockets close, not a reset (a call
      // whose answer has begun can only be cut); the answers get a moment to flush.
      engine.close();
      // Queued calls first get the dispatcher's answer (it says how long they waited), then
      // every call still without an answer gets its 503 here.
      await new Promise((resolve) => setImmediate(resolve));
      app.endCalls();
      await Promise.race([drained, delay(HELD_ANSWER_FLUSH_MS)]);
      server.closeAllConnections();
      adminServer.closeAllConnections();
      engine.close();
      detachSink?.();
      unsubscribe();
      await setup.stop?.();
      await provider.close();
      logger.info('stopped');
    })();
    return closing;
  };
  return { url: urlOf(config.host, port), port, adminUrl: urlOf(adminHost, adminPort), adminPort, provider, metrics, idler: scaler.idler, alertScaler, engine, scalers: scaler.scalers, server, adminServer, close };
}

/** Listens with `handler` on `port` (0: any free port) of `host`; rejects on a listen error (port in use). */
async function listen(handler: http.RequestListener, port: number, host: string): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The URL a local client uses for a listener (a wildcard address becomes loopback). */
function urlOf(host: string, port: number): string {
  const local = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${port}`;
}
