/**
 * When a proxied call may be sent again after its replica failed before answering. Pure: the
 * call (src/gateway/proxy-call.ts) asks, the dispatcher takes the replica out of rotation.
 */
import { FORWARDED_HEADER } from '../engine/dispatcher.js';

/** Attempts per call, the first included: a call is sent to a replica at most this often. */
export const MAX_ATTEMPTS = 3;

/**
 * Request bodies up to this many bytes are kept (the chunks as received, not copied) until
 * the replica answers, so the call can be sent again; a larger body streams as it comes and
 * its call is never sent twice. A body of at most this size is also received in full before
 * its call takes a replica slot (see ProxyCall.receiveBody).
 */
export const RETRY_BODY_BYTES = 64 * 1024;

/**
 * Why a call went to another attempt, the `reason` label of
 * `alert_scaler_upstream_retries_total`: `refused` (the connection to the replica failed:
 * nothing was sent), `reset` (a kernel reset or broken pipe before any response; for a
 * repeatable call only, unless none of its bytes were written), `closed` (a pooled keep-alive
 * connection the replica had closed: none of the call's bytes were written on it, or the call
 * is repeatable).
 */
export type RetryReason = 'refused' | 'reset' | 'closed';

/**
 * Methods that RFC 9110 §9.2.2 calls idempotent: PUT, DELETE and the safe methods of §9.2.1
 * (GET, HEAD, OPTIONS, TRACE; TRACE is safe, so idempotent too). Sending one twice has the
 * intended effect of sending it once.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** True for an idempotent method (RFC 9110 §9.2.2); `undefined` is not. */
export function isIdempotent(method: string | undefined): boolean {
  return method !== undefined && IDEMPOTENT.has(method);
}

/** A call that may be sent twice: an idempotent method, or the client sent an `Idempotency-Key`. */
export function isRepeatable(method: string | undefined, idempotencyKey: boolean): boolean {
  return idempotencyKey || isIdempotent(method);
}

/** What the proxy knows about a failed exchange, besides the error. */
export interface FailedExchange {
  /** The connection came from the keep-alive pool (`ClientRequest.reusedSocket`). */
  readonly reusedSocket: boolean;
  /** Sending the call twice is harmless: an idempotent method, or the client sent an `Idempotency-Key`. */
  readonly repeatable: boolean;
  /** A byte of the answer came before the failure (a 1xx, part of a head): the replica read the call. */
  readonly answered: boolean;
  /**
   * Not one byte of the call was handed to the connection: its `bytesWritten` did not move
   * from when the call got it (see ProxyCall). Only measured for calls that are not repeatable.
   */
  readonly unsent: boolean;
}

/**
 * Why a failed upstream exchange may be sent again, or null when it must not. Asked only for
 * errors before any byte of the response head.
 *
 * A call that is not repeatable (POST, PATCH, ... without `Idempotency-Key`) goes again only
 * when it provably never reached the replica: the connect failed, or none of its bytes were
 * written (the stale keep-alive race: the replica closed a pooled connection, Node read that
 * close, and the call took the connection before the pool dropped it; writing then fails with
 * EPIPE "ended by the other party" before anything leaves). A reset or an orderly close after
 * bytes went out proves nothing: a replica that read the call and then reset, closed or died
 * looks the same as one that never read it.
 *
 * A repeatable call also goes again after a kernel reset or broken pipe (`read ECONNRESET`,
 * EPIPE) and after Node's "socket hang up" (ECONNRESET without a syscall) on a pooled connection,
 * but never once any byte of an answer came: the replica read it (and may have acted on it).
 */
export function retryReasonOf(err: NodeJS.ErrnoException, exchange: FailedExchange): RetryReason | null {
  if (err.syscall === 'connect' || err.code === 'ECONNREFUSED') return 'refused';
  if (exchange.answered) return null;
  if (exchange.unsent) return exchange.reusedSocket ? 'closed' : 'reset';
  if (!exchange.repeatable) return null;
  if (err.code === 'EPIPE') return 'reset';
  if (err.code !== 'ECONNRESET') return null;
  if (err.syscall !== undefined) return 'reset';
  return exchange.reusedSocket ? 'closed' : null;
}

/**
 * A call forwarded to another gateway that refused the connection (gone: it saw nothing)
 * waits here for a slot, which this gateway gets once the membership counts that one out;
 * the forwarded mark is dropped from its headers. Any other failure: false (the other
 * gateway may have sent it to a replica already).
 */
export function forwardRetry(err: NodeJS.ErrnoException, forward: string[]): boolean {
  if (err.syscall !== 'connect' && err.code !== 'ECONNREFUSED') return false;
  const at = forward.indexOf(FORWARDED_HEADER);
  if (at >= 0 && at % 2 === 0) forward.splice(at, 2);
  return true;
}

/**
 * Sets the per-send tail of a call's header pairs: the forwarded mark when `forwarded` (a call
 * sent on to another gateway, on its first send or on a retry after a replica failed; dropped
 * again when a later send goes to a replica), then Host, always the last pair. `first`: no
 * Host pair yet.
 */
export function setSendHeaders(forward: string[], host: string, first: boolean, forwarded: boolean): void {
  // The common case, a first send to a replica, scans nothing.
  if (first && !forwarded) {
    forward.push('Host', host);
    return;
  }
  if (!first) forward.length -= 2;
  let at = forward.indexOf(FORWARDED_HEADER);
  while (at >= 0 && at % 2 !== 0) at = forward.indexOf(FORWARDED_HEADER, at + 1);
  if (forwarded && at < 0) forward.push(FORWARDED_HEADER, '1');
  else if (!forwarded && at >= 0) forward.splice(at, 2);
  forward.push('Host', host);
}
