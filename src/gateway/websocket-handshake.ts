import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher, Slot } from '../engine/dispatcher.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { asAppError, logRequestFailure, writeError } from './error-response.js';
import type { KnownFunction } from './proxy-call.js';
import { ADMIN_ORIGIN_HEADERS, responseHeaders, type RequestHeaders } from './proxy-headers.js';
import type { FunctionTarget } from './proxy-path.js';
import { setSendHeaders } from './proxy-retry.js';
import { rawResponse } from './websocket-raw.js';

/** Bytes a client may send past its upgrade request before the answer (kept for the replica); more is 400. */
export const EARLY_BYTES = 65_536;

/** What every handshake shares. */
export interface HandshakeContext {
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** Name/value pairs added to every answer (the admin listener's sandbox). */
  readonly responseHeaders: readonly string[];
  /** The admin listener: the operator's credentials are not forwarded, nor ADMIN_ORIGIN_HEADERS of the answer. */
  readonly sandboxed?: boolean;
  /** Counts the handshake's outcome once: the status answered (101, a refusal, 499 when the client left first). */
  readonly outcome: (fn: KnownFunction, code: number) => void;
  /** The replica answered 101: the tunnel takes both sockets and the held slot from here. */
  readonly upgraded: (handshake: Handshake, upstream: Socket, upstreamHead: Buffer, slot: Slot) => void;
  /** The handshake ended without a tunnel (the slot, if any, is given back). */
  readonly ended: (handshake: Handshake) => void;
}

/**
 * One WebSocket upgrade from the moment its function is known to the replica's answer: a
 * slot now or a wait in the function's queue (which wakes a function at zero), the upgrade
 * request sent to the replica on a connection of its own, then either its 101 (handed to
 * the tunnel, the slot held from then on) or its refusal passed back as an HTTP answer.
 * Every failure before the 101 is an HTTP answer on the raw socket (502, 503, 504, ...);
 * until the 101 the function's request timeout applies. A client that leaves frees the slot.
 */
export class Handshake {
  private slot: Slot | null = null;
  private upstreamReq: http.ClientRequest | null = null;
  /** The HTTP answer on the raw socket, once one began (an error, or the replica's refusal). */
  private res: http.ServerResponse | null = null;
  private readonly gone = new AbortController();
  private done = false;

  /** Bytes the client sent after its request head, before the 101 (at most EARLY_BYTES). */
  private early: Buffer;

  constructor(
    readonly req: http.IncomingMessage,
    readonly socket: Duplex,
    head: Buffer,
    readonly fn: KnownFunction,
    private readonly context: HandshakeContext,
  ) {
    this.early = head;
    socket.on('error', () => undefined);
    // Read on, so a client that leaves is noticed; what it sends early is kept for the tunnel.
    socket.on('data', this.onEarlyData);
    socket.once('end', this.onClientGone);
    socket.once('close', this.onClientGone);
  }

  /** What the client sent past its request head before the 101: the tunnel's first bytes upstream. */
  get head(): Buffer {
    return this.early;
  }

  /** Takes a slot (at once, or after waiting in the queue), then sends the upgrade on. */
  begin(target: FunctionTarget, headers: RequestHeaders, local: boolean): void {
    let slot: Slot | null;
    try {
      slot = this.context.dispatcher.tryAcquire(this.fn.ref, local);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (slot !== null) {
      this.send(target, headers, slot);
      return;
    }
    this.context.dispatcher.acquire(this.fn.ref, { signal: this.gone.signal, local }).then(
      (granted) => this.send(target, headers, granted),
      (err: unknown) => this.fail(err),
    );
  }

  /** Answers with an error (logged once) unless the handshake is over; frees what it holds. */
  fail(err: unknown): void {
    if (this.done) return;
    const error = asAppError(err);
    logRequestFailure(this.context.logger, error, { method: 'GET', function: this.fn.metrics.label, websocket: true });
    const res = this.answer();
    writeError(res, error);
    this.finish(error.status);
  }

  private send(target: FunctionTarget, headers: RequestHeaders, slot: Slot): void {
    if (this.done) {
      slot.release();
      return;
    }
    this.slot = slot;
    slot.onTimeout((reason) => this.fail(reason));
    try {
      const url = slot.url;
      const base = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : '';
      const path = base + (target.path === '' ? '/' : target.path) + target.query;
      const forward = [...headers.forward];
      setSendHeaders(forward, url.host, true, slot.forwarded === true);
      forward.push('Connection', 'Upgrade', 'Upgrade', this.req.headers.upgrade ?? 'websocket');
      // A connection of its own (no agent): it becomes the tunnel's.
      const upstreamReq = http.request({ host: url.hostname, port: url.port, method: 'GET', path, headers: forward, agent: false });
      this.upstreamReq = upstreamReq;
      upstreamReq.on('upgrade', (res, upstream, upstreamHead) => this.onUpgrade(res, upstream, upstreamHead, slot));
      upstreamReq.on('response', (res) => this.onRefusal(res));
      upstreamReq.on('error', (err) => this.onUpstreamError(err, slot));
      upstreamReq.end();
    } catch (err) {
      this.fail(err);
    }
  }

  private onUpgrade(res: http.IncomingMessage, upstream: Socket, upstreamHead: Buffer, slot: Slot): void {
    if (this.done) {
      upstream.destroy();
      return;
    }
    // From here the socket is in flight until it closes: no request timeout.
    slot.onTimeout(null);
    slot.hold();
    const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`];
    const out = responseHeaders(res.rawHeaders, this.context.sandboxed === true ? ADMIN_ORIGIN_HEADERS : undefined);
    out.push('Connection', 'Upgrade', 'Upgrade', res.headers.upgrade ?? 'websocket');
    // As for a call: a socket that waited for its function to wake says how long.
    if (slot.waitedFor === 'no_replica' && slot.waitedMs !== null) out.push('X-Scale-From-Zero', String(Math.round(slot.waitedMs)));
    out.push(...this.context.responseHeaders);
    for (let i = 0; i + 1 < out.length; i += 2) lines.push(`${out[i] ?? ''}: ${out[i + 1] ?? ''}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    this.done = true;
    this.stopListening();
    this.context.outcome(this.fn, 101);
    this.context.upgraded(this, upstream, upstreamHead, slot);
  }

  /** Not a 101: the replica's answer goes back as it is (hop-by-hop headers dropped), then the socket closes. */
  private onRefusal(upstreamRes: http.IncomingMessage): void {
    if (this.done) {
      upstreamRes.destroy();
      return;
    }
    const status = upstreamRes.statusCode ?? 0;
    if (status < 200 || status > 599) {
      upstreamRes.destroy();
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} answered the upgrade with status ${status}`));
      return;
    }
    const res = this.answer();
    try {
      res.writeHead(status, [...responseHeaders(upstreamRes.rawHeaders, this.context.sandboxed === true ? ADMIN_ORIGIN_HEADERS : undefined), ...this.context.responseHeaders]);
    } catch (err) {
      upstreamRes.destroy();
      this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} sent an answer that cannot be forwarded`, { cause: err }));
      return;
    }
    upstreamRes.once('error', () => res.destroy());
    // The response leaves the socket when it finishes ('close' only when it is cut first).
    res.once('finish', () => this.finish(status));
    res.once('close', () => this.finish(status));
    upstreamRes.pipe(res);
  }

  private onUpstreamError(err: Error, slot: Slot): void {
    if (this.done) return;
    if (isAppError(err)) {
      this.fail(err);
      return;
    }
    // A replica that refused the connection is out of rotation for a while, as for a call.
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' && slot.forwarded !== true) this.context.dispatcher.suspect(this.fn.ref, slot.replicaId);
    this.fail(new AppError('UPSTREAM_FAILED', `function ${this.fn.metrics.label} failed the upgrade: ${err.message}`, { cause: err }));
  }

  /** The response on the raw socket (one per handshake), with the listener's own headers. */
  private answer(): http.ServerResponse {
    if (this.res !== null) return this.res;
    const res = rawResponse(this.req, this.socket);
    this.res = res;
    for (let i = 0; i + 1 < this.context.responseHeaders.length; i += 2) res.setHeader(this.context.responseHeaders[i] ?? '', this.context.responseHeaders[i + 1] ?? '');
    return res;
  }

  private readonly onEarlyData = (chunk: Buffer): void => {
    if (this.early.length + chunk.length > EARLY_BYTES) {
      this.fail(new AppError('BAD_REQUEST', `more than ${EARLY_BYTES} bytes sent before the upgrade was answered`));
      return;
    }
    this.early = this.early.length === 0 ? chunk : Buffer.concat([this.early, chunk]);
  };

  private stopListening(): void {
    this.socket.off('data', this.onEarlyData);
    this.socket.off('end', this.onClientGone);
    this.socket.off('close', this.onClientGone);
    this.socket.pause();
  }

  /**
   * The client left before the 101: the wait or the upstream request ends, the slot goes back,
   * and the socket closes (Node's server no longer closes an upgrade's socket: one the client
   * only ended would stay half open, a file descriptor in CLOSE_WAIT for good).
   */
  private readonly onClientGone = (): void => {
    if (this.done) return;
    this.gone.abort();
    this.finish(499);
    this.socket.destroy();
  };

  /** Ends the handshake once: the upstream request and the slot go, the outcome is counted. */
  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    this.stopListening();
    this.upstreamReq?.destroy();
    const slot = this.slot;
    if (slot !== null) {
      slot.onTimeout(null);
      slot.release();
    }
    this.context.outcome(this.fn, code);
    this.context.ended(this);
  }
}
