import http from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseFunctionRef, type FunctionRef, type ReplicaState, type Upstream } from '../providers/types.js';
import type { Scaler } from '../scaling/scaler.js';
import type { InvocationLog } from './invocations.js';
import type { Acquired, Waker } from './waker.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

function forwardable(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

export interface ProxyDeps {
  readonly scaler: Scaler;
  readonly waker: Waker;
  readonly invocations: InvocationLog;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  readonly bodyLimitBytes: number;
}

/** The upstream path: the part after `/function/<name>`, with the query string. */
function upstreamPath(req: Request, base: URL): string {
  const rest = req.params['path'];
  const subPath = Array.isArray(rest) ? rest.join('/') : typeof rest === 'string' ? rest : '';
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
  return `${base.pathname.replace(/\/$/, '')}/${subPath}${query}`;
}

/**
 * Counts one invocation in the gateway metrics and the invocation log when the response
 * closes (499 when the client went away first). Returns the signal that fires when the client
 * goes away and a setter for the upstream release, which runs at close too.
 */
function trackInvocation(deps: ProxyDeps, ref: FunctionRef, fn: string, res: Response): { clientGone: AbortSignal; onClose: (release: () => void) => void } {
  const started = performance.now();
  const endInvocation = deps.invocations.begin(ref);
  deps.metrics.invocationStarted.inc({ function_name: fn });
  deps.metrics.inflight.inc({ function_name: fn });
  const gone = new AbortController();
  let release: () => void = () => undefined;
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
    release();
    endInvocation();
    const code = String(res.writableFinished ? res.statusCode : 499);
    deps.metrics.inflight.dec({ function_name: fn });
    deps.metrics.invocationTotal.inc({ function_name: fn, code });
    deps.metrics.invocationSeconds.observe({ function_name: fn, code }, (performance.now() - started) / 1000);
  });
  return { clientGone: gone.signal, onClose: (r) => (release = r) };
}

/**
 * `ALL /function/<name>[/<path>]`: streams the request to a ready replica (held by the waker
 * when there is none) and the answer back, counting it in the OpenFaaS gateway metrics.
 */
export function createFunctionProxy(deps: ProxyDeps) {
  // Idle upstream sockets close after 1 s, well before Node servers' 5 s keep-alive timeout,
  // so a reused socket is never one the replica is closing.
  const agent = new http.Agent({ keepAlive: true, timeout: 1000 });

  /** Streams the request to the upstream and its answer back; errors before headers go to `next`. */
  function forward(req: Request, res: Response, next: NextFunction, acquired: Acquired, fn: string, clientGone: AbortSignal): void {
    const target = acquired.upstream.url;
    const headers = forwardable(req.headers);
    headers['x-forwarded-host'] = req.headers.host ?? '';
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    headers['host'] = target.host;
    const upstreamReq = http.request({ host: target.hostname, port: target.port, method: req.method, path: upstreamPath(req, target), headers, agent });
    upstreamReq.on('response', (upstreamRes) => {
      const out = forwardable(upstreamRes.headers);
      if (acquired.waitedMs !== null) out['x-scale-from-zero'] = String(Math.round(acquired.waitedMs));
      res.writeHead(upstreamRes.statusCode ?? 502, out);
      upstreamRes.pipe(res);
      upstreamRes.once('error', () => res.destroy());
    });
    upstreamReq.on('error', (err) => {
      if (res.headersSent || clientGone.aborted) {
        res.destroy();
        return;
      }
      deps.logger.warn('upstream failed', { function: fn, upstream: target.host, error: err.message });
      next(isAppError(err) ? err : new AppError('UPSTREAM_FAILED', `function ${fn} failed: ${err.message}`, { cause: err }));
    });
    clientGone.addEventListener('abort', () => upstreamReq.destroy(), { once: true });

    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > deps.bodyLimitBytes) {
        req.unpipe(upstreamReq);
        upstreamReq.destroy(new AppError('BODY_TOO_LARGE', `request body is over the ${deps.bodyLimitBytes} byte limit`));
      }
    });
    req.pipe(upstreamReq);
  }

  return async function functionProxy(req: Request, res: Response, next: NextFunction): Promise<void> {
    const ref = parseFunctionRef(String(req.params['name']), deps.defaultNamespace);
    // A declared Content-Length over the limit was refused app-wide (server.ts); chunked
    // bodies are counted as they stream (forward).
    // Fast path: a ready replica and nobody held before us. No provider call per request
    // (on Kubernetes, getReplicas is a live API read). Otherwise the function's state decides:
    // unknown → 404, else the waker holds the request until a replica is ready.
    const direct = deps.waker.heldCount(ref) === 0 ? deps.scaler.provider.pickUpstream(ref) : null;
    let route: { ready: Upstream } | { wake: ReplicaState };
    try {
      route = direct !== null ? { ready: direct } : { wake: await deps.scaler.provider.getReplicas(ref) };
    } catch (err) {
      next(err);
      return;
    }

    const fn = deps.scaler.label(ref);
    const { clientGone, onClose } = trackInvocation(deps, ref, fn, res);
    let acquired: Acquired;
    if ('ready' in route) {
      acquired = { upstream: route.ready, waitedMs: null };
    } else {
      const heldSince = performance.now();
      try {
        acquired = await deps.waker.acquire(ref, route.wake, clientGone);
      } catch (err) {
        if (clientGone.aborted) return;
        // A request that waited says so even when the wake failed (504, 502).
        if (isAppError(err, 'WAKE_TIMEOUT', 'WAKE_FAILED', 'SHUTTING_DOWN')) res.setHeader('x-scale-from-zero', String(Math.round(performance.now() - heldSince)));
        next(err);
        return;
      }
    }
    onClose(acquired.upstream.release);
    if (clientGone.aborted) {
      acquired.upstream.release();
      return;
    }
    forward(req, res, next, acquired, fn, clientGone);
  };
}
