import { hostname } from 'node:os';
import type { ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AlertScaler } from './alerts/alert-scaler.js';
import { alertRouter } from './alerts/route.js';
import { isAsyncRoute, type AsyncParts } from './async/index.js';
import { eventsRouter } from './api/events.js';
import type { StatusStream } from './api/stream.js';
import { systemRouter } from './api/system.js';
import type { Engine } from './engine/index.js';
import { AppError, isAppError } from './errors.js';
import { basicAuth } from './gateway/auth.js';
import { logRequestFailure, writeError } from './gateway/error-response.js';
import { createFunctionProxy, type ProxyDeps, type RequestHandler } from './gateway/proxy.js';
import { createH2Proxy, type H2Proxy } from './gateway/h2-proxy.js';
import { isFunctionRoute } from './gateway/proxy-path.js';
import { createWebSocketProxy } from './gateway/websocket.js';
import { isWebSocketUpgrade, serveAsRequest, type UpgradeHandler } from './gateway/websocket-raw.js';
import { scrapeBody } from './metrics/render.js';
import type { SpecDefaults } from './policy/spec.js';
import type { Ownership } from './providers/setup.js';
import type { ReplicaProvider } from './providers/types.js';
import { uiRouter } from './ui/route.js';

/** What the app needs: the proxy's parts plus the provider, alert scaler, auth and readiness. */
export interface AppDeps extends ProxyDeps {
  readonly provider: ReplicaProvider;
  readonly alertScaler: AlertScaler;
  /** The engine: its change cycle (scale API), its event log (/system/events) and the drainer (WebSockets closed at a drain timeout). */
  readonly engine: Pick<Engine, 'changer' | 'events'> & Partial<Pick<Engine, 'drainer'>>;
  /** Basic auth for /system/*; undefined leaves it open. */
  readonly auth: { user: string; password: string } | undefined;
  /**
   * The admin listener is open (no auth) on a loopback address: /system/* and /ui/ answer only
   * requests addressed to this machine by a local name, so a page on a DNS name rebound to
   * 127.0.0.1 (its own origin, so the origin check passes) cannot read or change anything.
   */
  readonly localOnly?: boolean;
  /** False while starting or shutting down; /readyz answers 503 then. */
  readonly isReady: () => boolean;
  /** Largest webhook notification (`POST /system/alert`), in bytes: its own limit, apart from `bodyLimitBytes`. */
  readonly webhookBodyLimitBytes: number;
  /** Namespaces the provider manages (Kubernetes); a configured empty one lists as []. */
  readonly namespaces?: readonly string[] | undefined;
  /** Min, max and the ceiling `max=0` stands for: the policy `GET /system/function/<name>` reports. */
  readonly specDefaults: SpecDefaults;
  /** The live stream `GET /system/stream` (server-sent events); the route is absent without it. */
  readonly stream?: StatusStream | undefined;
  /** Which gateway owns each function (`GET /system/function/<name>` reports it); this one alone when absent. */
  readonly ownership?: Pick<Ownership, 'self' | 'ownerOf'> | undefined;
  /** Async invocations (src/async): `/async-function/*` on both listeners, `/system/async/*`; absent: those routes are 404. */
  readonly asyncCalls?: Pick<AsyncParts, 'accept' | 'router' | 'stored'> | undefined;
}

/** True when the Origin header names the host the request was sent to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** True when a Host header names this machine by a local name: localhost (or a .localhost name), a loopback address, or its hostname. */
export function isLocalHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  let name: string;
  try {
    name = new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return false;
  }
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]' || name === hostname().toLowerCase();
}

/** True for the webhook's path as express routes it (any case, an optional trailing slash). */
function isWebhookPath(path: string): boolean {
  return /^\/system\/alert\/?$/i.test(path);
}

/** Translates body-parser errors (they carry `type` and `status`) into AppErrors. */
function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const e = err as { type?: string; status?: number; message?: string };
  if (e.type === 'entity.too.large') return new AppError('BODY_TOO_LARGE', 'request body is over the size limit', { cause: err });
  if (e.type === 'entity.parse.failed') return new AppError('BAD_REQUEST', 'request body is not valid JSON', { cause: err });
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new AppError('BAD_REQUEST', e.message ?? 'bad request', { cause: err });
  }
  return new AppError('INTERNAL', 'internal error', { cause: err });
}

/** The two listeners' handlers, built together over the same engine and proxy. */
export interface App {
  /**
   * The function listener (`port`): `/function/*` (answers as the function sent them),
   * `/healthz`, `/readyz`, `/metrics`. `/system/*` and `/ui/` answer 404 naming the admin listener.
   */
  readonly functions: RequestHandler;
  /**
   * The admin listener (`adminPort`): `/system/*` (the webhook included), `/ui/`, health and
   * metrics, and `/function/*` for faas-cli, every answer with `Content-Security-Policy: sandbox`
   * (an opaque origin: a function's page cannot use this origin's credentials).
   */
  readonly admin: RequestHandler;
  /**
   * The function listener's HTTP/2 streams (h2c with prior knowledge, told apart from
   * HTTP/1.1 once per connection in src/bootstrap/protocols.ts): `/function/*` only.
   */
  readonly functionStreams: H2Proxy['handle'];
  /**
   * Shutdown at its deadline: every proxied call without an answer yet gets 503 SHUTTING_DOWN
   * (with Retry-After); one whose answer has begun is cut. Returns how many calls it ended.
   */
  endCalls(): number;
  /** `'upgrade'` of the function listener: WebSockets on `/function/*` (src/gateway/websocket.ts); any other upgrade is served as a plain request. */
  readonly functionsUpgrade: UpgradeHandler;
  /** `'upgrade'` of the admin listener: the same, sandboxed. */
  readonly adminUpgrade: UpgradeHandler;
  /** Shutdown: open WebSockets get close 1001, handshakes 503. Returns how many it ended. */
  closeSockets(): number;
}

/** The routes both listeners serve: body limit, health, readiness, metrics. */
function baseApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Body limit on every route, before anything reads a body; the webhook has its own (one
  // notification is a whole alert group), which its route also counts as the body arrives.
  app.use((req, _res, next) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const limit = req.method === 'POST' && isWebhookPath(req.path) ? deps.webhookBodyLimitBytes : deps.bodyLimitBytes;
    if (declared > limit) {
      next(new AppError('BODY_TOO_LARGE', `request body of ${declared} bytes is over the ${limit} byte limit`));
      return;
    }
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not-ready' });
  });
  app.get('/metrics', async (_req, res) => {
    // Rendered in slices that yield to the event loop (src/metrics/render.ts): a scrape of many functions never holds calls up.
    const chunks = await scrapeBody(deps.metrics.registry);
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.setHeader('Content-Length', chunks.reduce((n, c) => n + c.length, 0));
    for (const chunk of chunks) res.write(chunk);
    res.end();
  });
  return app;
}

/** The fallback 404 and the one error middleware: AppError code → status, JSON body; logged once, here. */
function finishApp(app: express.Express, deps: AppDeps, log: AppDeps['logger'], notFound: (req: Request) => AppError): void {
  app.use((req, _res, next) => {
    next(notFound(req));
  });
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    const appError = toAppError(err);
    if (req.path === '/system/alert' && appError.code !== 'ALERT_INVALID') {
      deps.metrics.webhookRequests.inc({ code: String(appError.status) });
    }
    if (res.headersSent) {
      next(err);
      return;
    }
    logRequestFailure(log, appError, { method: req.method, path: req.path });
    writeError(res, appError);
  });
}

const noRoute = (req: Request): AppError => new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`);

/** True for the paths only the admin listener serves. */
function isAdminPath(path: string): boolean {
  return path === '/system' || path.startsWith('/system/') || path === '/ui' || path.startsWith('/ui/');
}

/**
 * The admin listener's express app: the API, the webhook and the page, behind basic auth
 * when it is on, and the cross-origin check for changes.
 */
function adminApp(deps: AppDeps, log: AppDeps['logger']): express.Express {
  const app = baseApp(deps);
  // A browser that logged in to /ui/ keeps sending the credentials, and the JSON body parser
  // below takes any content type: refuse a change that another site's page sends (CSRF).
  // Alertmanager, faas-cli and the CLI send no Origin; the page sends its own.
  if (deps.localOnly === true) {
    app.use(['/system', '/ui'], (req, _res, next) => {
      if (isLocalHost(req.headers.host)) next();
      else next(new AppError('BAD_REQUEST', `Host ${req.headers.host ?? '(none)'} is not this machine: with no basic auth the admin listener answers local names only`, { details: { host: req.headers.host ?? null } }));
    });
  }
  app.use('/system', (req, _res, next) => {
    const origin = req.headers.origin;
    if (req.method === 'GET' || req.method === 'HEAD' || origin === undefined || sameOrigin(origin, req.headers.host)) {
      next();
      return;
    }
    next(new AppError('BAD_REQUEST', `cross-origin ${req.method} refused: Origin ${origin} is not this gateway`, { details: { origin } }));
  });
  // The page shows what /system/* shows and acts through it: the same credentials.
  if (deps.auth !== undefined) app.use('/ui', basicAuth(deps.auth));
  app.use('/ui', uiRouter());
  if (deps.auth !== undefined) app.use('/system', basicAuth(deps.auth));
  // Before the JSON body parser: the webhook reads its own body, with its own limit.
  app.use('/system', alertRouter({ alertScaler: deps.alertScaler, metrics: deps.metrics, bodyLimitBytes: deps.webhookBodyLimitBytes }));
  app.use('/system', express.json({ limit: deps.bodyLimitBytes, strict: true, type: () => true }));
  app.use('/system', systemRouter({ provider: deps.provider, changer: deps.engine.changer, dispatcher: deps.dispatcher, specDefaults: deps.specDefaults, metrics: deps.metrics, defaultNamespace: deps.defaultNamespace, namespaces: deps.namespaces, ownership: deps.ownership, asyncBacklog: deps.asyncCalls?.stored }));
  if (deps.stream !== undefined) app.get('/system/stream', deps.stream.handle);
  if (deps.asyncCalls !== undefined) app.use('/system', deps.asyncCalls.router);
  app.use('/system', eventsRouter({ events: deps.engine.events, provider: deps.provider, defaultNamespace: deps.defaultNamespace }));
  finishApp(app, deps, log, noRoute);
  return app;
}

/**
 * Builds the handlers of the two listeners, plain Node request handlers: `/function/` goes
 * straight to the proxy on the raw request (no framework on the hot path); everything else
 * to an express app (routes and one error middleware). Never listens.
 *
 * Functions answer on an origin of their own (the function listener), never on the one of
 * `/ui/` and `/system/*`: a function's page opened in a browser logged in to `/ui/` cannot
 * drive the admin API (same-origin requests there are 404; cross-origin ones have no
 * credentials for it and fail the Origin check).
 */
export function createApp(deps: AppDeps): App {
  const log = deps.logger.child({ component: 'http' });
  const functionRoutes = baseApp(deps);
  finishApp(functionRoutes, deps, log, (req) =>
    isAdminPath(req.path)
      ? new AppError('NOT_FOUND', `${req.path} is served on the admin listener (adminPort, ALERT_SCALER_ADMIN_PORT), not on the function listener`, { details: { listener: 'admin' } })
      : noRoute(req),
  );
  const adminRoutes = adminApp(deps, log);
  const proxy = createFunctionProxy({ ...deps, logger: deps.logger.child({ component: 'gateway' }) });
  const sockets = createWebSocketProxy({ ...deps, drainer: deps.engine.drainer, logger: deps.logger.child({ component: 'websocket' }) });
  const h2 = createH2Proxy({ ...deps, logger: deps.logger.child({ component: 'gateway-h2' }) });
  const accept = deps.asyncCalls?.accept;
  const functions: RequestHandler = (req, res) => {
    if (isFunctionRoute(req.url ?? '')) proxy(req, res);
    else if (accept !== undefined && isAsyncRoute(req.url ?? '')) accept(req, res);
    else functionRoutes(req, res);
  };
  const admin: RequestHandler = (req, res) => {
    if (isFunctionRoute(req.url ?? '')) proxy.sandboxed(req, res);
    else if (accept !== undefined && isAsyncRoute(req.url ?? '')) accept(req, res, true);
    else adminRoutes(req, res);
  };
  // An upgrade the gateway does not make (not a WebSocket on the function route) is the plain request it also is.
  const noBody = (res: ServerResponse): void => writeError(res, new AppError('BAD_REQUEST', 'an upgrade request with a body is not served'));
  return {
    functions,
    admin,
    functionStreams: h2.handle,
    endCalls: () => proxy.endCalls() + h2.endCalls(),
    functionsUpgrade(req, socket, head): void {
      if (isFunctionRoute(req.url ?? '') && isWebSocketUpgrade(req)) sockets.upgrade(req, socket, head);
      else serveAsRequest(req, socket, functions, noBody);
    },
    adminUpgrade(req, socket, head): void {
      if (isFunctionRoute(req.url ?? '') && isWebSocketUpgrade(req)) sockets.sandboxed(req, socket, head);
      else serveAsRequest(req, socket, admin, noBody);
    },
    closeSockets: () => sockets.closeAll(),
  };
}
