import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import { FORWARDED_HEADER, type Dispatcher, type Slot } from '../engine/dispatcher.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { asAppError, logRequestFailure, setHeaderPairs, writeError } from './error-response.js';
import type { InvocationLog } from '../engine/activity.js';
import { ProxyCall, type CallContext, type KnownFunction } from './proxy-call.js';
import { KnownFunctions } from './proxy-functions.js';
import { OPERATOR_CREDENTIALS, requestHeaders, trustedProxyCheck, type RequestHeaders } from './proxy-headers.js';
import { parseFunctionTarget, type FunctionTarget } from './proxy-path.js';
import { UpstreamPool } from './upstream/upstream-pool.js';

export interface ProxyDeps {
  /** The only source of replicas: a slot at once, or a wait in the function's queue. */
  readonly dispatcher: Dispatcher;
  readonly invocations: InvocationLog;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  readonly bodyLimitBytes: number;
  /**
   * Longest pause between two pieces of a request body, ms (then 408 BODY_TIMEOUT); undefined
   * sets none (apps built by hand in tests; the gateway always passes `bodyIdleTimeoutMs`).
   */
  readonly bodyIdleTimeoutMs?: number | undefined;
  /**
   * Longest pause between two pieces of a replica's answer, ms, from its head on (then the
   * answer is cut, counted 504 RESPONSE_IDLE); undefined or 0 sets none.
   */
  readonly responseIdleTimeoutMs?: number | undefined;
  /** Peers (addresses or CIDR subnets) whose forwarding headers are kept; undefined trusts none. */
  readonly trustedProxies: readonly string[] | undefined;
}

/** A plain Node request handler (what `http.createServer` takes). */
export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * What the admin listener adds to every function answer: an opaque origin, so a function's
 * page cannot act with the admin origin's credentials nor pass its Origin check. Forced:
 * appended after the function's own headers (browsers enforce every policy sent).
 */
export const SANDBOX_HEADERS: readonly string[] = ['Content-Security-Policy', 'sandbox'];

/** The proxy as the function listener uses it, plus its sandboxed form and its shutdown hook. */
export type FunctionProxy = RequestHandler & {
  /** The same proxy (same upstream connections, functions and calls), every answer with SANDBOX_HEADERS. */
  readonly sandboxed: RequestHandler;
  /**
   * Ends every call in flight: 503 SHUTTING_DOWN (with Retry-After) when its answer has not
   * begun, cut when it has. Returns how many calls it ended.
   */
  endCalls(): number;
};

/**
 * `ALL /function/<name>[/<path>]` on the raw Node request: takes a replica slot from the
 * dispatcher (at once, or after waiting in the function's queue, which wakes a function at
 * zero), streams the request to it and the answer back, counting it in the OpenFaaS gateway
 * metrics. The sub-path and query go upstream byte for byte. A function is looked up once
 * (404 when unknown); later calls read no provider. Nothing a client or a replica sends can
 * throw out of here: every failure is an answer to that call.
 */
export function createFunctionProxy(deps: ProxyDeps): FunctionProxy {
  // Keep-alive connections to replicas, closed after 1 s idle (well before Node servers' 5 s
  // keep-alive timeout, so a reused one is never one the replica is closing), without Nagle delay.
  const upstream = new UpstreamPool();
  /** Calls from construction to the close of their response (both listeners). */
  const active = new Set<ProxyCall>();
  const context: CallContext = {
    upstream,
    dispatcher: deps.dispatcher,
    metrics: deps.metrics,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    bodyIdleTimeoutMs: deps.bodyIdleTimeoutMs ?? 0,
    responseIdleTimeoutMs: deps.responseIdleTimeoutMs ?? 0,
    invocations: deps.invocations,
    responseHeaders: [],
    active,
  };
  const sandboxContext: CallContext = { ...context, responseHeaders: SANDBOX_HEADERS, sandboxed: true };
  const router = new FunctionRouter(deps);
  const handler = (ctx: CallContext): RequestHandler =>
    function functionProxy(req, res): void {
      router.handle(req, res, ctx);
    };
  const endCalls = (): number => {
    const calls = [...active];
    const error = new AppError('SHUTTING_DOWN', 'the gateway is shutting down: the call did not finish within the shutdown timeout');
    for (const call of calls) call.fail(error);
    return calls.length;
  };
  return Object.assign(handler(context), { sandboxed: handler(sandboxContext), endCalls });
}

/** Routes one request: its target and headers, its function (looked up once), then a slot now or a wait in the queue. */
class FunctionRouter {
  private readonly dispatcher: Dispatcher;
  private readonly functions: KnownFunctions;
  private readonly isTrusted: ReturnType<typeof trustedProxyCheck>;

  constructor(private readonly deps: ProxyDeps) {
    this.dispatcher = deps.dispatcher;
    this.functions = new KnownFunctions(deps.dispatcher, deps.metrics, deps.defaultNamespace);
    this.isTrusted = trustedProxyCheck(deps.trustedProxies);
  }

  /** The handler's body: nothing thrown escapes (every failure is an answer to the call). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: CallContext): void {
    try {
      const target = parseFunctionTarget(req.url ?? '/');
      const headers = requestHeaders(req.rawHeaders, req.socket.remoteAddress, (req.socket as Partial<TLSSocket>).encrypted === true, this.isTrusted, ctx.sandboxed === true ? OPERATOR_CREDENTIALS : undefined);
      // A declared body over the limit is refused before any replica is used; a body without
      // Content-Length is counted as it streams (ProxyCall).
      const { bodyLimitBytes } = this.deps;
      if (headers.contentLength > bodyLimitBytes) {
        throw new AppError('BODY_TOO_LARGE', `request body of ${headers.contentLength} bytes is over the ${bodyLimitBytes} byte limit`);
      }
      const fn = this.functions.get(target.name);
      if (fn !== undefined) {
        this.serve(req, res, fn, target, headers, ctx);
        return;
      }
      this.functions.lookup(target.name).then(
        (found) => {
          // The client went away while its function was looked up: nothing to serve, nothing to count.
          if (!res.closed) this.serve(req, res, found, target, headers, ctx);
        },
        (err: unknown) => this.refuse(req, res, err, ctx),
      );
    } catch (err) {
      this.refuse(req, res, err, ctx);
    }
  }

  /** An error before the call is counted (bad target, unknown function): answered and logged once. */
  private refuse(req: http.IncomingMessage, res: http.ServerResponse, err: unknown, ctx: CallContext): void {
    const error = asAppError(err);
    logRequestFailure(this.deps.logger, error, { method: req.method, path: (req.url ?? '').split('?')[0] });
    setHeaderPairs(res, ctx.responseHeaders);
    writeError(res, error);
  }

  /**
   * A call with a body reads it before it takes a slot (all of it up to RETRY_BODY_BYTES, so
   * a slow sender holds no replica; see ProxyCall.receiveBody); a call without one goes on at once.
   */
  private serve(req: http.IncomingMessage, res: http.ServerResponse, fn: KnownFunction, target: FunctionTarget, headers: RequestHeaders, ctx: CallContext): void {
    const call = new ProxyCall(req, res, fn, ctx);
    if (headers.contentLength > 0 || headers.chunked) call.receiveBody(headers.contentLength, () => this.dispatch(call, res, fn, target, headers));
    else this.dispatch(call, res, fn, target, headers);
  }

  /** A slot at once, or a wait in the queue. */
  private dispatch(call: ProxyCall, res: http.ServerResponse, fn: KnownFunction, target: FunctionTarget, headers: RequestHeaders): void {
    let slot: Slot | null;
    try {
      slot = this.dispatcher.tryAcquire(fn.ref, isForwarded(call.request));
    } catch (err) {
      call.fail(err);
      return;
    }
    if (slot === null) this.queue(call, res, fn, target, headers);
    else call.start(target, headers, slot);
  }

  /** No free slot at once: wait in the function's queue until one is handed over, or fail. */
  private queue(call: ProxyCall, res: http.ServerResponse, fn: KnownFunction, target: FunctionTarget, headers: RequestHeaders): void {
    const gone = new AbortController();
    call.onGone = () => gone.abort();
    const since = performance.now();
    this.dispatcher.acquire(fn.ref, { signal: gone.signal, local: isForwarded(call.request) }).then(
      (slot: Slot) => call.start(target, headers, slot),
      (err: unknown) => {
        // Closed, or already answered (shutdown's endCalls): nothing more to say.
        if (call.closed || res.headersSent) return;
        // A call that waited for a replica says how long, even when the wake failed (504, 502, 503).
        if (isAppError(err) && err.details?.['reason'] === 'no_replica') res.setHeader('X-Scale-From-Zero', String(Math.round(performance.now() - since)));
        call.fail(err);
      },
    );
  }
}

const FORWARDED = FORWARDED_HEADER.toLowerCase();

/** A call another gateway forwarded here (FORWARDED_HEADER): served here or queued, never forwarded again. */
export function isForwarded(req: http.IncomingMessage): boolean {
  return req.headers[FORWARDED] !== undefined;
}
