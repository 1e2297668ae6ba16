import http from 'node:http';
import type { Slot } from '../engine/dispatcher.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { FunctionRef } from '../providers/types.js';
import { asAppError, logRequestFailure, writeError } from './error-response.js';
import type { FunctionMetrics } from './function-metrics.js';
import type { InvocationLog } from './invocations.js';
import type { RequestHeaders } from './proxy-headers.js';
import { responseHeaders } from './proxy-headers.js';
import type { FunctionTarget } from './proxy-path.js';

/** A function the gateway has seen answer: its ref and its metric children. */
export interface KnownFunction {
  readonly ref: FunctionRef;
  readonly metrics: FunctionMetrics;
}

/** What every call shares: the upstream agent, the logger and the limits. */
export interface CallContext {
  readonly agent: http.Agent;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly invocations: InvocationLog;
}

/**
 * One proxied call from the moment its function is known: counts it (started, in flight,
 * total and duration by code, 499 when the client went away first), gives its replica slot
 * back when the response closes, and turns every upstream failure into an answer for this
 * call only (502 UPSTREAM_FAILED; 504 REQUEST_TIMEOUT when the slot's request timeout
 * fires; once headers are out, the response is cut).
 */
export class ProxyCall {
  /** Set while the call waits in the queue: called when the client goes away first. */
  onGone: (() => void) | null = null;
  private slot: Slot | null = null;
  private upstreamReq: http.ClientRequest | null = null;
  /** The code counted when the response was cut after its headers (timeout, upstream failure). */
  private cutCode = 0;
  /** An error answer has been written or the response cut: later upstream events change nothing. */
  private settled = false;
  private closedFlag = false;
  private readonly started = performance.now();
  private readonly endInvocation: () => void;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly fn: KnownFunction,
    private readonly context: CallContext,
  ) {
    this.endInvocation = context.invocations.begin(fn.ref);
    fn.metrics.begin();
    res.once('close', this.onClose);
  }

  /** True once the response has closed (finished or the client went away). */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Sends the call to its slot's replica and streams the answer back. The slot is released
   * when the response closes (at once when it already has); its timeout (the function's
   * request timeout) answers 504 REQUEST_TIMEOUT and aborts the upstream call.
   */
  start(target: FunctionTarget, headers: RequestHeaders, slot: Slot): void {
    if (this.closedFlag) {
      slot.release();
      return;
    }
    this.slot = slot;
    this.onGone = null;
    slot.onTimeout(this.onTimeout);
    try {
      this.forward(target, headers, slot);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Answers this call with an error (logged once) and ends its upstream exchange. */
  fail(err: unknown, upstreamHost?: string): void {
    if (this.settled || this.closedFlag || this.res.writableFinished) return;
    this.settled = true;
    const error = asAppError(err);
    logRequestFailure(this.context.logger, error, { method: this.req.method, function: this.fn.metrics.label, upstream: upstreamHost });
    if (this.res.headersSent) this.cutCode = error.status;
    writeError(this.res, error);
    this.upstreamReq?.destroy();
  }

  private forward(target: FunctionTarget, headers: RequestHeaders, slot: Slot): void {
    const url = slot.url;
    const base = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : '';
    const path = base + (target.path === '' ? '/' : target.path) + target.query;
    headers.forward.push('Host', url.host);
    const upstreamReq = http.request({ host: url.hostname, port: url.port, method: this.req.method, path, headers: headers.forward, agent: this.context.agent });
    this.upstreamReq = upstreamReq;
    upstreamReq.on('response', (upstreamRes) => this.onResponse(upstreamRes, slot, url.host));
    upstreamReq.on('error', (err) => {
      this.fail(isAppError(err) ? err : new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} failed: ${err.message}`, { cause: err }), url.host);
    });
    if (Number.isNaN(headers.contentLength)) this.countBody(upstreamReq);
    this.req.pipe(upstreamReq);
  }

  /** A body without Content-Length is counted as it streams and cut at the limit. */
  private countBody(upstreamReq: http.ClientRequest): void {
    const limit = this.context.bodyLimitBytes;
    let bytes = 0;
    this.req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        this.req.unpipe(upstreamReq);
        upstreamReq.destroy(new AppError('BODY_TOO_LARGE', `request body is over the ${limit} byte limit`));
      }
    });
  }

  /** The slot's request timeout passed (the dispatcher has freed the slot already). */
  private readonly onTimeout = (reason: AppError): void => {
    this.fail(reason, this.slot?.url.host);
  };

  private onResponse(upstreamRes: http.IncomingMessage, slot: Slot, upstreamHost: string): void {
    if (this.settled || this.closedFlag) {
      upstreamRes.destroy();
      return;
    }
    // A final answer is 200-599. Node's client passes 1xx other than 101 as 'information'; a
    // 101 here was not asked for (no upgrade is forwarded) and below 100 or above 599 is
    // not HTTP: writeHead would throw on some, the client would hang on others.
    const status = upstreamRes.statusCode ?? 0;
    if (status < 200 || status > 599) {
      upstreamRes.destroy();
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} answered with status ${status}`), upstreamHost);
      return;
    }
    try {
      const out = responseHeaders(upstreamRes.rawHeaders);
      if (slot.waitedFor === 'no_replica' && slot.waitedMs !== null) out.push('X-Scale-From-Zero', String(Math.round(slot.waitedMs)));
      this.res.writeHead(status, out);
    } catch (err) {
      upstreamRes.destroy();
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} sent an answer that cannot be forwarded`, { cause: err }), upstreamHost);
      return;
    }
    upstreamRes.once('error', (err) => this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} failed mid-answer`, { cause: err }), upstreamHost));
    upstreamRes.pipe(this.res);
  }

  private readonly onClose = (): void => {
    this.closedFlag = true;
    const finished = this.res.writableFinished;
    if (!finished) {
      this.upstreamReq?.destroy();
      this.onGone?.();
    }
    const slot = this.slot;
    if (slot !== null) {
      slot.onTimeout(null);
      slot.release();
    }
    this.endInvocation();
    const code = this.cutCode !== 0 ? this.cutCode : finished ? this.res.statusCode : 499;
    this.fn.metrics.end(code, (performance.now() - this.started) / 1000);
  };
}
