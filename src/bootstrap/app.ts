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
  /** `GET /system/stream`: ended first at shutdown (its streams never finish by themselves). */
  readonly stream: StatusStream;
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
    alertScaler: parts.scaler.alerts,
    dispatcher: engine.dispatcher,
    invocations: parts.invocations,
    metrics,
    logger,
    defaultNamespace: config.defaultNamespace,
    bodyLimitBytes: config.bodyLimitBytes,
    webhookBodyLimitBytes: config.webhookBodyLimitBytes,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    trustedProxies: config.trustedProxies,
    auth: deps.auth,
    isReady: deps.isReady,
    specDefaults: specDefaults(config),
    stream,
    namespaces: config.provider === 'kubernetes' ? config.namespaces : undefined,
    ownership: parts.ownership,
    asyncCalls: deps.asyncCalls,
  });
  return { app, stream };
}
