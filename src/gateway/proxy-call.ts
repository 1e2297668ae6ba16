import type http from 'node:http';
import { FORWARDED_HEADER, type Slot } from '../engine/dispatcher.js';
import { AppError } from '../errors.js';
import { asAppError, logRequestFailure, setHeaderPairs, writeError } from './error-response.js';
import { endCall } from './function-metrics.js';
import type { RequestHeaders } from './proxy-headers.js';
import { ADMIN_ORIGIN_HEADERS, responseHeaders } from './proxy-headers.js';
import { CallBody, type BodyOwner } from './proxy-body.js';
import { AnswerCopy, type AnswerOwner } from './proxy-answer.js';
import type { ExchangeOwner, UpstreamExchange, WholeAnswer } from './upstream/upstream-pool.js';
import type { CallContext, KnownFunction } from './proxy-context.js';
import type { FunctionTarget } from './proxy-path.js';
import { MAX_ATTEMPTS, forwardRetry, isRepeatable, retryReasonOf, setSendHeaders, type RetryReason } from './proxy-retry.js';

export type { CallContext, KnownFunction } from './proxy-context.js';

/**
 * One proxied call from the moment its function is known: counts it (started, in flight,
 * total and duration by code, 499 when the client went away first), gives its replica slot
 * back when the response closes, and turns every upstream failure into an answer for this
 * call only (502 UPSTREAM_FAILED; 504 REQUEST_TIMEOUT when the slot's request timeout
 * fires; once headers are out, the response is cut). A call that provably never reached its
 * replica, or a repeatable one (see `retryReasonOf`), goes again, up to MAX_ATTEMPTS in all,
 * within its first slot's request timeout: the replica is made suspect (unless it only closed
 * a pooled connection), the slot given back and another one taken (or waited for). A body up
 * to RETRY_BODY_BYTES is received before the slot is taken and kept until the replica answers
 * (see `receiveBody`).
 */
export class ProxyCall implements BodyOwner, AnswerOwner, ExchangeOwner {
  /** Set while the call waits in the queue: called when the client goes away first. */
  onGone: (() => void) | null = null;
  private slot: Slot | null = null;
  /** The current attempt's exchange with its replica; null before the first and between attempts. */
  private exchange: UpstreamExchange | null = null;
  /** The answer being copied to the client, once its head is out. */
  private answer: AnswerCopy | null = null;
  /** What the current attempt needs again on a retry. */
  private target: FunctionTarget | null = null;
  private headers: RequestHeaders | null = null;
  /** The code counted when the response was cut after its headers (timeout, upstream failure). */
  private cutCode = 0;
  /** An error answer has been written or the response cut: later upstream events change nothing. */
  private settled = false;
  private closedFlag = false;
  /** Sends to a replica so far. */
  private sends = 0;
  /** The request body, when the call has one (see `receiveBody`). */
  private body: CallBody | null = null;
  /** `bytesWritten` of the current attempt's connection when the attempt got it; -1 when not measured. */
  private sentFrom = -1;
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
    context.active.add(this);
    res.once('close', this.onClose);
  }

  /** The client's request. */
  get request(): http.IncomingMessage { return this.req; }

  /** True once the response has closed (finished or the client went away). */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Sends to a replica so far (0 while the body is received before the first). */
  get attempts(): number {
    return this.sends;
  }

  /** Answered (an error written, or the response cut) or closed: later events change nothing. */
  get finished(): boolean {
    return this.settled || this.closedFlag;
  }

  /**
   * Sends the call to its slot's replica and streams the answer back. The slot is released
   * when the response closes (at once when it already has); its timeout (the function's
   * request timeout) answers 504 REQUEST_TIMEOUT and aborts the upstream call.
   */
  start(target: FunctionTarget, headers: RequestHeaders, slot: Slot): void {
    if (this.closedFlag || this.settled) {
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
    else {
      setHeaderPairs(this.res, this.context.responseHeaders);
      // The rest of a stalled body is not waited for: the connection closes after the answer.
      if (error.code === 'BODY_TIMEOUT') this.res.setHeader('Connection', 'close');
    }
    writeError(this.res, error);
    this.endExchange();
  }

  /** Stops the current exchange (its connection closed) and the request body's flow into it. */
  private endExchange(): void {
    this.body?.stopFlow();
    this.answer = null;
    this.exchange?.destroy();
  }

  private forward(target: FunctionTarget, headers: RequestHeaders, slot: Slot): void {
    this.sends += 1;
    this.target = target;
    this.headers = headers;
    const url = slot.url;
    const base = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : '';
    const path = base + (target.path === '' ? '/' : target.path) + target.query;
    // A call sent on to another gateway says so (and is never sent again, see upstreamError); Host is the last pair.
    setSendHeaders(headers.forward, url.host, this.sends === 1, slot.forwarded === true);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const exchange = this.context.upstream.exchange(hostname, url.port === '' ? 80 : Number(url.port), this, {
      method: this.req.method ?? 'GET',
      path,
      headers: headers.forward,
      chunked: headers.chunked,
      bodyFramed: headers.chunked || !Number.isNaN(headers.contentLength),
    });
    this.exchange = exchange;
    // A call that may not simply go again is sent again only if none of its bytes left: the
    // connection's byte count from before the call's head is compared when the exchange fails
    // (see `retryReasonOf`).
    this.sentFrom = isRepeatable(this.req.method, headers.idempotencyKey) ? -1 : exchange.sentFrom;
    // What the client sent so far first (the body received before the slot, or kept for a
    // retry), then the rest as it comes. A request without Content-Length or Transfer-Encoding
    // has no body (RFC 9112 6.3).
    this.body?.replay(exchange);
    if (this.req.readableEnded || (!headers.chunked && !(headers.contentLength > 0))) {
      exchange.end();
      return;
    }
    exchange.flush();
    if (this.body === null) exchange.end();
    else this.body.flowTo(exchange);
  }

  /** The connection can take more of the body. */
  upstreamDrain(): void {
    if (this.exchange !== null && !this.finished) this.body?.drain();
  }

  /** Reads the request body before any replica slot is taken (see CallBody); `ready` runs when the call may take one. */
  receiveBody(contentLength: number, ready: () => void): void {
    this.body = new CallBody(this.req, this.context, this);
    this.body.receive(contentLength, ready);
  }

  /** The body passed the limit: 413, or the running exchange ends with it (then 502 or cut). */
  overLimit(err: AppError): void {
    this.fail(err, this.exchange === null ? undefined : this.slot?.url.host);
  }

  /** The exchange failed: mid-answer, the answer is cut; before it, another attempt when the replica never read the call, else 502. */
  upstreamError(err: NodeJS.ErrnoException): void {
    const exchange = this.exchange;
    const slot = this.slot;
    if (this.settled || this.closedFlag || exchange === null || slot === null) return;
    if (this.answer !== null) {
      this.answerFailed(err);
      return;
    }
    const { target, headers } = this;
    if (target === null || headers === null) return;
    const host = slot.url.host;
    // Forwarded (see forwardRetry): refused waits here for a slot; anything else is 502, never sent twice.
    if (slot.forwarded === true) {
      if (forwardRetry(err, headers.forward)) this.retry('refused', err, target, headers, slot);
      else this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label}: the gateway it was forwarded to failed: ${err.message}`, { cause: err }), host);
      return;
    }
    const unsent = this.sentFrom >= 0 && exchange.socket.bytesWritten === this.sentFrom;
    const failed = { reusedSocket: exchange.reused, repeatable: isRepeatable(this.req.method, headers.idempotencyKey), unsent, answered: exchange.answered };
    const reason = (this.body?.replayable ?? true) && this.sends < MAX_ATTEMPTS ? retryReasonOf(err, failed) : null;
    if (reason === null) {
      const details = this.sends > 1 ? { details: { attempts: this.sends } } : {};
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} failed: ${err.message}`, { cause: err, ...details }), host);
      return;
    }
    this.retry(reason, err, target, headers, slot);
  }

  /**
   * Sends the call again: the failed replica is suspect (unless it only closed a pooled
   * connection), its slot given back, and the call takes another slot or waits for one, no
   * later than its first request timeout. A call that gets none is 502 UPSTREAM_FAILED.
   */
  private retry(reason: RetryReason, err: Error, target: FunctionTarget, headers: RequestHeaders, failed: Slot): void {
    const { dispatcher, logger, metrics } = this.context;
    const { ref } = this.fn;
    const label = this.fn.metrics.label;
    if (reason !== 'closed') dispatcher.suspect(ref, failed.replicaId);
    metrics.upstreamRetries.inc({ function_name: label, reason });
    if (logger.isLevelEnabled('warn')) logger.warn('upstream retry', { function: label, replica: failed.replicaId, reason, attempt: this.sends + 1, error: err.message });
    this.endExchange();
    this.req.pause();
    this.exchange = null;
    this.slot = null;
    failed.onTimeout(null);
    failed.release();
    const gone = new AbortController();
    this.onGone = () => gone.abort();
    // A call forwarded here never goes on; one whose forward was refused waits here, and goes to
    // a member with a slot once the members change (the refused one gone, or back on a new port).
    const local = this.req.headers[FORWARDED_HEADER.toLowerCase()] !== undefined;
    dispatcher.acquire(ref, { signal: gone.signal, deadlineAt: failed.deadlineAt, local, forwardLater: failed.forwarded === true }).then(
      (slot) => this.start(target, headers, slot),
      (waitErr: unknown) => {
        if (this.closedFlag) return;
        this.fail(new AppError('UPSTREAM_FAILED', `function ${label} failed and no replica took the call again: ${err.message}`, { cause: waitErr, details: { attempts: this.sends } }), failed.url.host);
      },
    );
  }

  /** The slot's request timeout passed (the dispatcher has freed the slot already). */
  private readonly onTimeout = (reason: AppError): void => {
    this.fail(reason, this.slot?.url.host);
  };

  /** The answer's head: written to the client, then its body copied as it comes. */
  upstreamHead(status: number, rawHeaders: string[], whole?: WholeAnswer): void {
    const exchange = this.exchange;
    const slot = this.slot;
    if (this.settled || this.closedFlag || exchange === null || slot === null) {
      exchange?.destroy();
      return;
    }
    // An answer began: this call is never sent again, and its kept body can go.
    this.body?.drop();
    // A final answer is 200-599 (the parser skips 1xx but 101, which was not asked for).
    if (status < 200 || status > 599) {
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} answered with status ${status}`), slot.url.host);
      return;
    }
    const out = responseHeaders(rawHeaders, this.context.sandboxed === true ? ADMIN_ORIGIN_HEADERS : undefined);
    if (slot.waitedFor === 'no_replica' && slot.waitedMs !== null) out.push('X-Scale-From-Zero', String(Math.round(slot.waitedMs)));
    out.push(...this.context.responseHeaders);
    try {
      if (whole === undefined) this.answer = AnswerCopy.begin(exchange, this.res, status, out, this.context.responseIdleTimeoutMs, this);
      else AnswerCopy.whole(this.res, status, out, whole);
    } catch (err) {
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} sent an answer that cannot be forwarded`, { cause: err }), slot.url.host);
    }
  }

  upstreamData(chunk: Buffer): void { this.answer?.data(chunk); }
  upstreamIdle(): void { this.answer?.idle(); }
  upstreamEnd(): void {
    const answer = this.answer;
    this.answer = null;
    answer?.end();
  }

  /** The replica paused its answer past the response idle timeout: cut, counted 504. */
  answerIdle(): void {
    const ms = this.context.responseIdleTimeoutMs;
    this.fail(new AppError('RESPONSE_IDLE', `function ${this.fn.metrics.label} sent nothing of its answer for ${ms} ms`, { details: { responseIdleTimeoutMs: ms } }), this.slot?.url.host);
  }
  /** The replica's answer failed: a 502 when nothing of it was sent yet, else cut. */
  answerFailed(err: Error): void {
    this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label}'s answer failed: ${err.message}`, { cause: err }), this.slot?.url.host);
  }

  private readonly onClose = (): void => {
    this.closedFlag = true;
    this.body?.clearTimer();
    this.context.active.delete(this);
    const finished = this.res.writableFinished;
    if (!finished) {
      this.endExchange();
      this.onGone?.();
    }
    const code = this.cutCode !== 0 ? this.cutCode : finished ? this.res.statusCode : 499;
    endCall(this.slot, this.endInvocation, this.fn.metrics, code, this.started);
  };
}
