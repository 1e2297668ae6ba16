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
 * our bytes unread, or did not exist any more, so the function never read the call.
 *
 * Node's own "socket hang up" (ECONNRESET without a syscall) is an orderly close of the
 * connection, and is ambiguous: a replica that read the call and died serving it closes the
 * same way. It goes again only on a reused keep-alive socket, and then for an idempotent call,
 * or when the close arrived by the first event-loop poll after the call was sent
 * (`closedAtOnce`): the replica's close was then already on its way before it could have read
 * the call (a replica killed just before, seen in about 1 of 7 such races on a loaded machine;
 * a replica dying while it serves a call closes later, 4-40 ms in the chaos test).
 */
export function retryReasonOf(err: NodeJS.ErrnoException, reusedSocket: boolean, idempotent: boolean, closedAtOnce = false): RetryReason | null {
  if (err.syscall === 'connect' || err.code === 'ECONNREFUSED') return 'refused';
  if (err.code === 'EPIPE') return 'reset';
  if (err.code !== 'ECONNRESET') return null;
  if (err.syscall !== undefined) return 'reset';
  return reusedSocket && (idempotent || closedAtOnce) ? 'closed' : null;
}

/**
 * Counts event-loop turns while calls are sent, for `closedAtOnce`: each `now()` makes sure
 * the next two check phases (`setImmediate`, right after a poll) each add 1, so a number read
 * when a call is sent and again when it fails differs by at most 1 when the failure came no
 * later than the first poll after the send. One immediate per turn under traffic; none idle.
 */
export class LoopTurns {
  private turn = 0;
  /** Check phases still to count. */
  private left = 0;
  private readonly tick = (): void => {
    this.turn += 1;
    this.left -= 1;
    if (this.left > 0) setImmediate(this.tick);
  };

  /** The current turn number (and the two ticks that follow it). */
  now(): number {
    if (this.left === 0) setImmediate(this.tick);
    this.left = 2;
    return this.turn;
  }

  /** The turn number without scheduling anything. */
  peek(): number {
    return this.turn;
  }
}
