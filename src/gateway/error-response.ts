import type { ServerResponse } from 'node:http';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** Codes whose answer carries `Retry-After: 1`: the same call may succeed shortly. */
export const RETRY_LATER: ReadonlySet<string> = new Set(['QUEUE_FULL', 'PROVIDER_UNAVAILABLE', 'SHUTTING_DOWN']);

/** An AppError as is; anything else is an unexpected INTERNAL error (the original as cause). */
export function asAppError(err: unknown): AppError {
  return isAppError(err) ? err : new AppError('INTERNAL', 'internal error', { cause: err });
}

/** Sets name/value pairs (`[name, value, ...]`) on a response whose headers are not out yet. */
export function setHeaderPairs(res: ServerResponse, pairs: readonly string[]): void {
  if (res.headersSent) return;
  for (let i = 0; i + 1 < pairs.length; i += 2) res.setHeader(pairs[i] ?? '', pairs[i + 1] ?? '');
}

/**
 * Writes the one JSON error shape, `{"error":{"code","message",...details}}`, with the
 * status from the error table and `Retry-After` for the retry-later codes. When headers
 * are already out, the answer can only be cut: the response is destroyed.
 */
export function writeError(res: ServerResponse, error: AppError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: error.code, message: error.message, ...error.details } });
  if (RETRY_LATER.has(error.code)) res.setHeader('Retry-After', '1');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.statusCode = error.status;
  res.end(body);
}

/** Logs a failed request once (`request failed`; error level for 5xx, warn otherwise); nothing is built when the level is off. */
export function logRequestFailure(log: Logger, error: AppError, fields: Readonly<Record<string, unknown>>): void {
  const level = error.status >= 500 ? 'error' : 'warn';
  if (!log.isLevelEnabled(level)) return;
  log.log(level, 'request failed', {
    ...fields,
    status: error.status,
    code: error.code,
    error: error.message,
    cause: error.cause instanceof Error ? error.cause.message : undefined,
  });
}
