/**
 * When a proxied call may be sent again after its replica failed before answering. Pure: the
 * call (src/gateway/proxy-call.ts) asks, the dispatcher takes the replica out of rotation.
 */

/** Attempts per call, the first included: a call is sent to a replica at most this often. */
export const MAX_ATTEMPTS = 3;

/**
 * Request bodies up to this many bytes are kept (the chunks as received, not copied) until
 * the replica answers, so the call can be sent again; a larger body streams as it comes and
 * its call is never sent twice.
 */
export const RETRY_BODY_BYTES = 64 * 1024;

/**
 * Why a call went to another attempt, the `reason` label of
 * `alert_scaler_upstream_retries_total`: `refused` (the connection to the replica failed:
 * nothing was sent), `reset` (the replica's side answered a reset before any response: its
 * socket was gone, or closed with the request unread), `closed` (a pooled keep-alive
 * connection was closed by the replica before any response; retried for idempotent methods only).
 */
export type RetryReason = 'refused' | 'reset' | 'closed';

/** Methods that RFC 9110 §9.2.2 calls idempotent: sending one twice has the effect of once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** True for an idempotent method (RFC 9110 §9.2.2); `undefined` is not. */
export function isIdempotent(method: string | undefined): boolean {
  return method !== undefined && IDEMPOTENT.has(method);
}

/**
 * Why a failed upstream exchange may be sent again, or null when it must not. Asked only for
 * errors before any byte of the response head. A failed connect sent nothing; a reset from
 * the kernel (`read`/`write` ECONNRESET, EPIPE) means the replica's socket was closed with
 * our bytes unread, or did not exist any more, so the function never read the call. Node's
 * own "socket hang up" (ECONNRESET without a syscall) is an orderly close: the replica may
 * have read the call and died while serving it, so only an idempotent call on a reused
 * keep-alive socket (the classic race with the replica closing an idle connection) goes again.
 */
export function retryReasonOf(err: NodeJS.ErrnoException, reusedSocket: boolean, idempotent: boolean): RetryReason | null {
  if (err.syscall === 'connect' || err.code === 'ECONNREFUSED') return 'refused';
  if (err.code === 'EPIPE') return 'reset';
  if (err.code !== 'ECONNRESET') return null;
  if (err.syscall !== undefined) return 'reset';
  return reusedSocket && idempotent ? 'closed' : null;
}
