import http from 'node:http';
import type http2 from 'node:http2';
import { FORWARDED_HEADER, type Dispatcher, type Slot } from '../engine/dispatcher.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { asAppError, logRequestFailure } from './error-response.js';
import { isGrpc, parseGrpcTimeout } from './grpc.js';
import { h1RawHeaders, writeH2Error } from './h2-answer.js';
import { H2Call } from './h2-call.js';
import type { H2CallHandle, H2Context } from './h2-context.js';
import { UpstreamSessions } from './h2-upstream.js';
import type { ProxyDeps } from './proxy.js';
import type { KnownFunction } from './proxy-call.js';
import { KnownFunctions } from './proxy-functions.js';
import { requestHeaders, trustedProxyCheck } from './proxy-headers.js';
import { isFunctionRoute, parseFunctionTarget, type FunctionTarget } from './proxy-path.js';

/** The function proxy for HTTP/2 streams (h2c on the function listener). */
export interface H2Proxy {
  /** Handles one stream (the HTTP/2 server's 'stream' event); nothing thrown escapes. */
  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[]): void;
  /**
   * Ends every call in flight: 503 SHUTTING_DOWN (gRPC: UNAVAILABLE) when its answer has not
   * begun, cut (gRPC: UNAVAILABLE trailers) when it has. Returns how many calls it ended.
   */
  endCalls(): number;
  /** Closes the upstream h2c sessions (after the calls ended). */
  close(): void;
}

const FORWARDED = FORWARDED_HEADER.toLowerCase();

/**
 * `/function/<name>[/<path>]` over HTTP/2: the same route, limits and answers as the HTTP/1.1
 * proxy (src/gateway/proxy.ts), each stream one call: a slot from the dispatcher (at once, or
 * after waiting in the function's queue, which wakes a function at zero), then H2Call. A
 * gRPC request (content type `application/grpc*`) gets gRPC answers for the gateway's own
 * errors and its `grpc-timeout` as a deadline within the function's request timeout, and
 * may name its function by authority instead (see `routeOf`). Other paths answer 404: over
 * HTTP/2 the function listener serves functions only.
 */
export function createH2Proxy(deps: ProxyDeps): H2Proxy {
  const logger = deps.logger;
  const active = new Set<H2Call>();
  const sessions = new UpstreamSessions();
  const context: H2Context = {
    agent: new http.Agent({ keepAlive: true, timeout: 1000 }),
    sessions,
    logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    invocations: deps.invocations,
    active,
    refused: (call, failed, err) => router.refused(call, failed, err),
  };
  const router = new H2Router(deps, context);
  return {
    handle: (stream, headers, rawHeaders) => router.handle(stream, headers, rawHeaders),
    endCalls: () => {
      const calls = [...active];
      const error = new AppError('SHUTTING_DOWN', 'the gateway is shutting down: the call did not finish within the shutdown timeout');
      for (const call of calls) call.fail(error);
      return calls.length;
    },
    close: () => {
      sessions.close();
      context.agent.destroy();
    },
  };
}

/**
 * The function route of a stream: its path when on `/function/`; for a gRPC call on any other
 * path (a client with generated stubs sends `/<package>.<Service>/<Method>`), the function
 * named by the authority's host (`name` or `name.namespace`, e.g. grpc-js channel option
 * `grpc.default_authority`), the path going on as is. Else NOT_FOUND.
 */
function routeOf(headers: http2.IncomingHttpHeaders, grpc: boolean): string {
  const path = headers[':path'] ?? '';
  if (isFunctionRoute(path)) return path;
  const authority = headers[':authority'] ?? '';
  if (!grpc || authority === '' || path.charCodeAt(0) !== 0x2f) throw new AppError('NOT_FOUND', 'over HTTP/2 this listener serves /function/<name> only (or gRPC calls by authority); use HTTP/1.1 for other routes');
  const host = authority.charCodeAt(0) === 0x5b ? authority : authority.replace(/:\d*$/, '');
  return `/function/${encodeURIComponent(host)}${path}`;
}

class H2Router {
  private readonly dispatcher: Dispatcher;
  private readonly functions: KnownFunctions;
  private readonly isTrusted: ReturnType<typeof trustedProxyCheck>;
  private readonly logger: Logger;

  constructor(
    private readonly deps: ProxyDeps,
    private readonly context: H2Context,
  ) {
    this.dispatcher = deps.dispatcher;
    this.logger = deps.logger;
    this.functions = new KnownFunctions(deps.dispatcher, deps.metrics, deps.defaultNamespace);
    this.isTrusted = trustedProxyCheck(deps.trustedProxies);
  }

  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[]): void {
    // A reset stream or a broken session shows up here; the call's 'close' does the rest.
    stream.on('error', () => undefined);
    const grpc = isGrpc(headers['content-type']);
    try {
      const target = parseFunctionTarget(routeOf(headers, grpc));
      const socket = stream.session?.socket;
      const forward = requestHeaders(h1RawHeaders(rawHeaders), socket?.remoteAddress, false, this.isTrusted);
      const limit = this.deps.bodyLimitBytes;
      if (forward.contentLength > limit) throw new AppError('BODY_TOO_LARGE', `request body of ${forward.contentLength} bytes is over the ${limit} byte limit`);
      const method = headers[':method'] ?? 'GET';
      const deadlineMs = grpc ? parseGrpcTimeout(headers['grpc-timeout']) : undefined;
      const local = headers[FORWARDED] !== undefined;
      const serve = (fn: KnownFunction): void => {
        // Reset by the client while its function was looked up: nothing to serve, nothing to count.
        if (stream.closed || stream.destroyed) return;
        const call = new H2Call({ stream, method, fn, grpc, deadlineMs, local }, this.context);
        this.dispatch(call, fn, target, forward.forward, local);
      };
      const fn = this.functions.get(target.name);
      if (fn !== undefined) serve(fn);
      else this.functions.lookup(target.name).then(serve, (err: unknown) => this.refuse(stream, headers, err, grpc));
    } catch (err) {
      this.refuse(stream, headers, err, grpc);
    }
  }

  /** An error before the call is counted (bad target, unknown function): answered and logged once. */
  private refuse(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, err: unknown, grpc: boolean): void {
    const error = asAppError(err);
    logRequestFailure(this.logger, error, { method: headers[':method'], path: (headers[':path'] ?? '').split('?')[0], protocol: 'h2' });
    try {
      writeH2Error(stream, error, grpc);
    } catch {
      stream.destroy();
    }
  }

  /** A slot at once, or a wait in the function's queue until one is handed over, or an error answer. */
  private dispatch(call: H2Call, fn: KnownFunction, target: FunctionTarget, forward: string[], local: boolean): void {
    let slot: Slot | null;
    try {
      slot = this.dispatcher.tryAcquire(fn.ref, local);
    } catch (err) {
      call.fail(err);
      return;
    }
    if (slot !== null) call.start(target, forward, slot);
    else this.wait(call, {}, (granted) => call.start(target, forward, granted), (err) => err);
  }

  /**
   * A send that never reached its replica (no connection: refused, or the connect failed): the
   * replica is made suspect, its slot given back, and the call takes another slot or waits for
   * one within its first slot's request timeout (else 502 UPSTREAM_FAILED, gRPC UNAVAILABLE).
   * A forward another gateway refused (it is gone) waits here, and is forwarded again once the
   * members change.
   */
  refused(call: H2CallHandle, failed: Slot, err: Error): void {
    const { fn } = call.request;
    const label = fn.metrics.label;
    const forwardLater = failed.forwarded === true;
    if (!forwardLater) this.dispatcher.suspect(fn.ref, failed.replicaId);
    this.deps.metrics.upstreamRetries.inc({ function_name: label, reason: 'refused' });
    if (this.logger.isLevelEnabled('warn')) this.logger.warn('upstream retry', { function: label, replica: failed.replicaId, reason: 'refused', protocol: 'h2', error: err.message });
    failed.release();
    this.wait(call, { deadlineAt: failed.deadlineAt, forwardLater }, (granted) => call.resend(granted), (waitErr) =>
      new AppError('UPSTREAM_FAILED', `function ${label} refused the call and no replica took it again: ${err.message}`, { cause: waitErr }),
    );
  }

  /** Waits in the function's queue for a slot (the client's reset ends the wait); a failed wait is answered with `failure(err)`. */
  private wait(call: H2CallHandle, opts: { deadlineAt?: number; forwardLater?: boolean }, granted: (slot: Slot) => void, failure: (err: unknown) => unknown): void {
    const gone = new AbortController();
    call.onGone = () => gone.abort();
    const { fn, local } = call.request;
    this.dispatcher.acquire(fn.ref, { ...opts, signal: gone.signal, local }).then(granted, (err: unknown) => {
      if (!call.closed) call.fail(failure(err));
    });
  }
}
