import http from 'node:http';
import type { TLSSocket } from 'node:tls';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseFunctionRef, type FunctionRef, type ReplicaState } from '../providers/types.js';
import type { Scaler } from '../scaling/scaler.js';
import { asAppError, logRequestFailure, writeError } from './error-response.js';
import { FunctionMetrics } from './function-metrics.js';
import type { InvocationLog } from './invocations.js';
import { ProxyCall, type CallContext, type KnownFunction } from './proxy-call.js';
import { requestHeaders, trustedProxyCheck, type RequestHeaders } from './proxy-headers.js';
import { parseFunctionTarget, type FunctionTarget } from './proxy-path.js';
import type { Waker } from './waker.js';

export interface ProxyDeps {
  readonly scaler: Scaler;
  readonly waker: Waker;
  readonly invocations: InvocationLog;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  readonly bodyLimitBytes: number;
  /** Upper bound of one call once it is sent to a replica, in ms (see requestTimeoutOf). */
  readonly requestTimeoutMs: number;
  /** Peers (addresses or CIDR subnets) whose forwarding headers are kept; undefined trusts none. */
  readonly trustedProxies: readonly string[] | undefined;
}

/** A plain Node request handler (what `http.createServer` takes). */
export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * The request timeout of a call to `ref`, in ms: from sending it to a replica to the end of
 * the answer. One value for every function for now; a per-function label plugs in here.
 */
export function requestTimeoutOf(deps: Pick<ProxyDeps, 'requestTimeoutMs'>, _ref: FunctionRef): number {
  return deps.requestTimeoutMs;
}

/**
 * `ALL /function/<name>[/<path>]` on the raw Node request: streams the request to a ready
 * replica (held by the waker when there is none) and the answer back, counting it in the
 * OpenFaaS gateway metrics. The sub-path and query go upstream byte for byte. Nothing a
 * client or a replica sends can throw out of here: every failure is an answer to that call.
 */
export function createFunctionProxy(deps: ProxyDeps): RequestHandler {
  // Idle upstream sockets close after 1 s, well before Node servers' 5 s keep-alive timeout,
  // so a reused socket is never one the replica is closing.
  const agent = new http.Agent({ keepAlive: true, timeout: 1000 });
  const context: CallContext = { agent, logger: deps.logger, bodyLimitBytes: deps.bodyLimitBytes, invocations: deps.invocations };
  const isTrusted = trustedProxyCheck(deps.trustedProxies);
  /** Functions that exist, by name as requested: bounded by the functions ever served. */
  const known = new Map<string, KnownFunction>();

  const remember = (name: string, ref: FunctionRef): KnownFunction => {
    let fn = known.get(name);
    if (fn === undefined) {
      fn = { ref, metrics: new FunctionMetrics(deps.metrics, deps.scaler.label(ref)) };
      known.set(name, fn);
    }
    return fn;
  };

  /** An error before the call is counted (bad target, unknown function): answered and logged once. */
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void => {
    const error = asAppError(err);
    logRequestFailure(deps.logger, error, { method: req.method, path: (req.url ?? '').split('?')[0] });
    writeError(res, error);
  };

  /** No ready replica at once (or others are held): the function's state decides (unknown → 404, else the waker holds the call). */
  async function held(req: http.IncomingMessage, res: http.ServerResponse, target: FunctionTarget, headers: RequestHeaders, ref: FunctionRef): Promise<void> {
    let state: ReplicaState;
    try {
      state = await deps.scaler.provider.getReplicas(ref);
    } catch (err) {
      refuse(req, res, err);
      return;
    }
    const call = new ProxyCall(req, res, remember(target.name, ref), context);
    const gone = new AbortController();
    call.onGone = () => gone.abort();
    const heldSince = performance.now();
    let acquired;
    try {
      acquired = await deps.waker.acquire(ref, state, gone.signal);
    } catch (err) {
      if (call.closed) return;
      // A request that waited says so even when the wake failed (504, 502).
      if (isAppError(err, 'WAKE_TIMEOUT', 'WAKE_FAILED', 'SHUTTING_DOWN')) res.setHeader('X-Scale-From-Zero', String(Math.round(performance.now() - heldSince)));
      call.fail(err);
      return;
    }
    call.hold(acquired.upstream.release);
    if (call.closed) return;
    try {
      call.forward(target, headers, acquired, requestTimeoutOf(deps, ref));
    } catch (err) {
      call.fail(err);
    }
  }

  return function functionProxy(req, res): void {
    try {
      const target = parseFunctionTarget(req.url ?? '/');
      const headers = requestHeaders(req.rawHeaders, req.socket.remoteAddress, (req.socket as Partial<TLSSocket>).encrypted === true, isTrusted);
      // A declared body over the limit is refused before any replica is used; a body without
      // Content-Length is counted as it streams (ProxyCall).
      if (headers.contentLength > deps.bodyLimitBytes) {
        throw new AppError('BODY_TOO_LARGE', `request body of ${headers.contentLength} bytes is over the ${deps.bodyLimitBytes} byte limit`);
      }
      const fn = known.get(target.name);
      const ref = fn?.ref ?? parseFunctionRef(target.name, deps.defaultNamespace);
      // Fast path: a ready replica and nobody held before us; no provider read per request
      // (on Kubernetes, getReplicas is a live API read).
      const upstream = deps.waker.heldCount(ref) === 0 ? deps.scaler.provider.pickUpstream(ref) : null;
      if (upstream === null) {
        held(req, res, target, headers, ref).catch((err: unknown) => refuse(req, res, err));
        return;
      }
      const call = new ProxyCall(req, res, fn ?? remember(target.name, ref), context);
      call.hold(upstream.release);
      try {
        call.forward(target, headers, { upstream, waitedMs: null }, requestTimeoutOf(deps, ref));
      } catch (err) {
        call.fail(err);
      }
    } catch (err) {
      refuse(req, res, err);
    }
  };
}
