import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Slot } from '../engine/dispatcher.js';
import { AppError } from '../errors.js';
import { asAppError, logRequestFailure } from './error-response.js';
import { addH2Headers, answerHeaders, cleanTrailers, grpcErrorFields, h2cRequestHeaders, writeH2Error } from './h2-answer.js';
import type { H2CallHandle, H2Context, H2Request } from './h2-context.js';
import { abortExchange } from './h2-upstream.js';
import { responseHeaders } from './proxy-headers.js';
import { endCall } from './function-metrics.js';
import { upstreamPath, type FunctionTarget } from './proxy-path.js';
import { MAX_ATTEMPTS, setSendHeaders } from './proxy-retry.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/**
 * One call on an HTTP/2 stream from the moment its function is known: counted as HTTP/1.1
 * calls are (started, in flight, total and duration by code, 499 when the client reset the
 * stream first), sent to its slot's replica over HTTP/1.1, or over h2c when the slot says so
 * (a gRPC call sent on to another gateway goes over h2c too), and answered frame by frame as
 * the replica writes, trailers included. Every failure is an answer to this call only: before
 * the answer's headers a JSON error (or, for gRPC, a trailers-only gRPC status); after them a
 * gRPC call ends with `grpc-status` trailers and any other stream is reset. The slot's request
 * timeout, and for gRPC the client's `grpc-timeout`, bound the whole call.
 */
export class H2Call implements H2CallHandle {
  /** Set while the call waits in the queue: called when the client goes away first. */
  onGone: (() => void) | null = null;
  private slot: Slot | null = null;
  private upstream: http.ClientRequest | http2.ClientHttp2Stream | null = null;
  /** What is piped to the client's stream, when the answer has begun. */
  private source: Readable | null = null;
  private upstreamTrailers: http2.IncomingHttpHeaders | null = null;
  /** Set when the call failed after the answer's headers: a gRPC call's last trailers. */
  private errorTrailers: http2.OutgoingHttpHeaders | null = null;
  private status = 0;
  /** The whole answer is out (its end of stream sent): nothing later changes the call. */
  private answered = false;
  private settled = false;
  private closedFlag = false;
  private received = 0;
  /** Sends to a replica so far. */
  private sends = 0;
  /** The current send has its connection: its body flows, so a failure now may have reached the replica. */
  private connected = false;
  private target: FunctionTarget | null = null;
  private forward: string[] = [];
  private deadline: NodeJS.Timeout | null = null;
  private readonly started = performance.now();
  private readonly endInvocation: () => void;
  private readonly stream: http2.ServerHttp2Stream;

  constructor(
    private readonly call: H2Request,
    private readonly context: H2Context,
  ) {
    this.stream = call.stream;
    this.endInvocation = context.invocations.begin(call.fn.ref);
    call.fn.metrics.begin();
    context.active.add(this);
    this.stream.once('close', this.onClose);
    this.stream.on('wantTrailers', this.onWantTrailers);
    if (call.deadlineMs !== undefined) {
      const ms = call.deadlineMs;
      this.deadline = setTimeout(() => this.fail(new AppError('REQUEST_TIMEOUT', `the call's deadline (grpc-timeout ${ms} ms) passed`, { details: { grpcTimeoutMs: ms } })), ms);
      this.deadline.unref();
    }
  }

  /** True once the client's stream has closed. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** What the call is. */
  get request(): H2Request {
    return this.call;
  }

  /** Sends the call to its slot's replica; the slot is released when the stream closes. */
  start(target: FunctionTarget, forward: string[], slot: Slot): void {
    if (this.closedFlag || this.settled) {
      slot.release();
      return;
    }
    this.slot = slot;
    this.onGone = null;
    this.target = target;
    this.forward = forward;
    this.sends += 1;
    this.connected = false;
    slot.onTimeout(this.onTimeout);
    try {
      const path = upstreamPath(slot.url, target);
      setSendHeaders(forward, slot.url.host, this.sends === 1, slot.forwarded === true);
      if (slot.protocol === 'h2c' || (slot.forwarded === true && this.call.grpc)) this.sendH2c(slot, path, forward);
      // gRPC needs HTTP/2 to the replica: not sent to one spoken to over HTTP/1.1.
      else if (this.call.grpc) this.fail(new AppError('UPSTREAM_FAILED', `function ${this.call.fn.metrics.label} is spoken to over HTTP/1.1: a gRPC function needs the label com.openfaas.protocol=h2c`));
      else this.sendHttp1(slot, path, forward);
    } catch (err) {
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.call.fn.metrics.label}: the call could not be sent`, { cause: err }));
    }
  }

  /** Sends the call again, to `slot`, after a send that never reached its replica (see H2Context.refused). */
  resend(slot: Slot): void {
    if (this.target === null) slot.release();
    else this.start(this.target, this.forward, slot);
  }

  /** Answers with an error (logged once) and ends the upstream exchange; see the class comment. */
  fail(err: unknown): void {
    if (this.settled || this.closedFlag || this.answered) return;
    this.settled = true;
    this.clearDeadline();
    const error = asAppError(err);
    const { stream } = this;
    logRequestFailure(this.context.logger, error, { method: this.call.method, function: this.call.fn.metrics.label, upstream: this.slot?.url.host, protocol: 'h2' });
    abortExchange(this.stream, this.upstream, this.source);
    this.status = error.status;
    if (stream.destroyed) return;
    if (!stream.headersSent) writeH2Error(stream, error, this.call.grpc);
    else if (this.call.grpc && !stream.writableEnded) {
      this.errorTrailers = grpcErrorFields(error);
      stream.end();
    } else stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  private sendHttp1(slot: Slot, path: string, forward: string[]): void {
    const url = slot.url;
    const req = http.request({ host: url.hostname, port: url.port, method: this.call.method, path, headers: forward, agent: this.context.agent });
    this.upstream = req;
    req.on('response', (res: http.IncomingMessage) => this.onHttp1Response(res));
    // A 101 nobody asked for: without this listener Node drops the socket and tells nothing (the call would wait for its timeout).
    req.on('upgrade', (_res: http.IncomingMessage, socket: Socket) => {
      socket.destroy();
      if (req === this.upstream && !this.settled && !this.closedFlag) this.upstreamFailed(new Error('the replica answered with status 101'));
    });
    req.on('error', (err) => this.upstreamError(req, err));
    req.once('socket', (socket: Socket) => {
      if (socket.connecting) socket.once('connect', () => this.onConnected(req));
      else this.onConnected(req);
    });
  }

  private sendH2c(slot: Slot, path: string, forward: string[]): void {
    const { deadlineMs } = this.call;
    const headers = h2cRequestHeaders(forward, this.call.method, path, this.call.grpc, deadlineMs === undefined ? undefined : deadlineMs - (performance.now() - this.started));
    const session = this.context.sessions.get(slot.url);
    const req = session.request(headers, { endStream: false });
    this.upstream = req;
    req.on('response', (h: http2.IncomingHttpHeaders, flags: number) => this.onH2Response(h, flags, req));
    req.on('trailers', (t: http2.IncomingHttpHeaders) => (this.upstreamTrailers = t));
    req.on('error', (err: Error) => this.upstreamError(req, err));
    // Reset by the replica (RST_STREAM) or its session gone before the answer ended.
    req.once('close', () => {
      // What the client still sends has nowhere to go: it is read and dropped, so the client's stream can end.
      if (this.connected && this.upstream === req) {
        this.stream.unpipe(req);
        this.stream.resume();
      }
      if (!this.settled && this.source !== req) this.upstreamError(req, new Error(`the replica closed the stream (code ${req.rstCode ?? 'none'})`));
      else if (!this.settled && !this.answered && req.rstCode !== NGHTTP2_NO_ERROR) this.upstreamFailed(new Error(`the replica reset the stream mid-answer (code ${req.rstCode ?? 'none'})`));
    });
    if (session.connecting) session.once('connect', () => this.onConnected(req));
    else this.onConnected(req);
  }

  /** The send's connection is up: the client's body flows to it from now on. */
  private onConnected(req: http.ClientRequest | http2.ClientHttp2Stream): void {
    if (req !== this.upstream || this.settled || this.closedFlag) return;
    this.connected = true;
    this.pipeBody(req);
  }

  /** A send failed: sent again when it never had its connection (nothing reached the replica or the gateway it was forwarded to), else UPSTREAM_FAILED. */
  private upstreamError(req: http.ClientRequest | http2.ClientHttp2Stream, err: Error): void {
    if (req !== this.upstream || this.settled || this.closedFlag) return;
    const slot = this.slot;
    if (this.connected || slot === null || this.sends >= MAX_ATTEMPTS) {
      this.upstreamFailed(err);
      return;
    }
    this.upstream = null;
    this.slot = null;
    slot.onTimeout(null);
    this.context.refused(this, slot, err);
  }

  /** The client's body to the replica as it comes, counted against the body limit. */
  private pipeBody(dest: NodeJS.WritableStream): void {
    const limit = this.context.bodyLimitBytes;
    this.stream.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.received > limit) this.fail(new AppError('BODY_TOO_LARGE', `request body is over the ${limit} byte limit`));
    });
    this.stream.pipe(dest);
  }

  private onHttp1Response(res: http.IncomingMessage): void {
    const status = res.statusCode ?? 0;
    if (this.settled || this.closedFlag || status < 200 || status > 599) {
      res.destroy();
      if (!this.settled) this.upstreamFailed(new Error(`the replica answered with status ${status}`));
      return;
    }
    this.answer(addH2Headers(responseHeaders(res.rawHeaders), { ':status': status }), res, false);
  }

  private onH2Response(headers: http2.IncomingHttpHeaders, flags: number, req: http2.ClientHttp2Stream): void {
    if (this.settled || this.closedFlag) return;
    // A trailers-only answer (a gRPC status without a message) stays one.
    this.answer(answerHeaders(headers), req, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
  }

  /** The replica's answer to the client: headers now, then its data as it comes, then its trailers. */
  private answer(headers: http2.OutgoingHttpHeaders, source: Readable, endStream: boolean): void {
    const slot = this.slot;
    if (slot !== null && slot.waitedFor === 'no_replica' && slot.waitedMs !== null) headers['x-scale-from-zero'] = String(Math.round(slot.waitedMs));
    this.status = Number(headers[':status']);
    try {
      this.stream.respond(headers, endStream ? { endStream: true } : { waitForTrailers: true });
    } catch (err) {
      source.destroy();
      this.upstreamFailed(new Error('the replica sent an answer that cannot be forwarded over HTTP/2', { cause: err }));
      return;
    }
    this.source = source;
    if (endStream) {
      this.answered = true;
      this.clearDeadline();
      return;
    }
    source.once('error', (err: Error) => this.upstreamFailed(err));
    source.once('end', () => this.sourceEnded(source));
    source.pipe(this.stream, { end: false });
  }

  /**
   * The replica's answer ended: the client's stream ends too (then its trailers), unless the
   * replica's HTTP/2 stream was reset or its session died (Node ends such a stream's data as
   * if it were whole): that answer is cut, not passed on as complete.
   */
  private sourceEnded(source: Readable): void {
    this.clearDeadline();
    const reset = (source as Partial<http2.ClientHttp2Stream>).rstCode;
    if (reset !== undefined && reset !== NGHTTP2_NO_ERROR) {
      this.upstreamFailed(new Error(`the replica's stream was reset mid-answer (code ${reset})`));
      return;
    }
    if (!this.settled && !this.stream.writableEnded) this.stream.end();
  }

  /** The answer's data is out: its trailers (the replica's, or a gRPC status after a failure), or none. */
  private readonly onWantTrailers = (): void => {
    const source = this.source as (Readable & { trailers?: NodeJS.Dict<string | string[]> }) | null;
    const own = this.upstreamTrailers ?? source?.trailers ?? null;
    if (this.errorTrailers === null) this.answered = true;
    try {
      this.stream.sendTrailers(this.errorTrailers ?? cleanTrailers(own));
    } catch {
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  };

  private upstreamFailed(err: Error): void {
    const details = this.sends > 1 ? { details: { attempts: this.sends } } : {};
    this.fail(new AppError('UPSTREAM_FAILED', `function ${this.call.fn.metrics.label} failed: ${err.message}`, { cause: err, ...details }));
  }

  /** The slot's request timeout passed (the dispatcher has freed the slot already). */
  private readonly onTimeout = (reason: AppError): void => this.fail(reason);

  private clearDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  }

  private readonly onClose = (): void => {
    this.closedFlag = true;
    this.clearDeadline();
    this.context.active.delete(this);
    // Closed before the whole answer was out (a client's reset, even with NO_ERROR): gone, and its call to the replica ends too.
    const ok = this.stream.rstCode === NGHTTP2_NO_ERROR && this.answered;
    if (!ok && !this.settled) {
      abortExchange(this.stream, this.upstream, this.source);
      this.onGone?.();
    }
    const code = this.settled ? this.status : ok && this.status !== 0 ? this.status : 499;
    endCall(this.slot, this.endInvocation, this.call.fn.metrics, code, this.started);
  };
}
