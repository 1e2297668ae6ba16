import { HistoryRecorder } from '../api/history-recorder.js';
import { StatusStream } from '../api/stream.js';
import type { AsyncParts } from '../async/index.js';
import type { GatewayParts } from '../compose/gateway.js';
import { specDefaults } from '../config/defaults.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { createApp, type App } from '../server.js';

/** The gateway's two handlers and the live status stream they serve. */
export interface GatewayApp {
  readonly app: App;
  /** `GET /system/stream`: ended first at shutdown (its streams never finish by themselves); stops the recorder too. */
  readonly stream: StatusStream;
  /** The page's last 15 minutes: started once the provider runs (its first list reads the provider's cache, not its API). */
  readonly recorder: HistoryRecorder;
}

/** A loopback address to bind: 127.x.x.x, ::1 or localhost. */
function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Builds the status stream and the app (src/server.ts) over the gateway's parts: the
 * function and admin handlers, not listening yet. `isReady` answers `/readyz`.
 */
export function createGatewayApp(
  config: Config,
  parts: GatewayParts,
  deps: { readonly logger: Logger; readonly metrics: Metrics; readonly auth: { user: string; password: string } | undefined; readonly isReady: () => boolean; readonly asyncCalls?: AsyncParts | undefined },
): GatewayApp {
  const { provider, engine } = parts;
  const { logger, metrics } = deps;
  // The page's last 15 minutes, sampled whether anyone watches or not; stopped with the stream.
  const recorder = new HistoryRecorder({ provider, dispatcher: engine.dispatcher, metrics, defaultNamespace: config.defaultNamespace, logger });
  const stream = new StatusStream({
    provider,
    recorder,
    alerts: { store: parts.store, staleMs: config.firingStaleSeconds * 1000 },
    dispatcher: engine.dispatcher,
    events: engine.events,
    metrics,
    specDefaults: specDefaults(config),
    defaultNamespace: config.defaultNamespace,
    logger,
    asyncBacklog: deps.asyncCalls?.stored,
  });
  const app = createApp({
    provider,
    engine,
    alertScaler: parts.scaler.alerts,
    dispatcher: engine.dispatcher,
    invocations: parts.invocations,
    metrics,
    logger,
    defaultNamespace: config.defaultNamespace,
    bodyLimitBytes: config.bodyLimitBytes,
    webhookBodyLimitBytes: config.webhookBodyLimitBytes,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    responseIdleTimeoutMs: config.responseIdleTimeoutMs,
    trustedProxies: config.trustedProxies,
    auth: deps.auth,
    localOnly: deps.auth === undefined && isLoopbackAddress(config.adminHost ?? config.host),
    isReady: deps.isReady,
    specDefaults: specDefaults(config),
    stream,
    namespaces: config.provider === 'kubernetes' ? config.namespaces : undefined,
    ownership: parts.ownership,
    asyncCalls: deps.asyncCalls,
  });
  return { app, stream, recorder };
}
