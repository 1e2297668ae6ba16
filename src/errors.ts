/** Every error code the application raises; a closed union. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'TRACE_INVALID'
  | 'BAD_REQUEST'
  | 'ALERT_INVALID'
  | 'LABELS_INVALID'
  | 'UNAUTHORIZED'
  | 'BODY_TOO_LARGE'
  | 'BODY_TIMEOUT'
  | 'FUNCTION_UNKNOWN'
  | 'FUNCTION_NOT_ENABLED'
  | 'PROVIDER_UNAVAILABLE'
  | 'PROVIDER_CONFLICT'
  | 'PROVIDER_FORBIDDEN'
  | 'PROVIDER_FAILED'
  | 'NOT_OWNER'
  | 'UPSTREAM_FAILED'
  | 'WAKE_TIMEOUT'
  | 'WAKE_FAILED'
  | 'QUEUE_FULL'
  | 'QUEUE_TIMEOUT'
  | 'REQUEST_TIMEOUT'
  | 'RESPONSE_IDLE'
  | 'SHUTTING_DOWN'
  | 'NOT_FOUND'
  | 'USAGE'
  | 'GATEWAY_FAILED'
  | 'METRICS_UNAVAILABLE'
  | 'INTERNAL';

/** The one table from error code to HTTP status. */
export const httpStatusOf: Readonly<Record<ErrorCode, number>> = {
  CONFIG_INVALID: 500,
  TRACE_INVALID: 400,
  BAD_REQUEST: 400,
  ALERT_INVALID: 400,
  LABELS_INVALID: 400,
  UNAUTHORIZED: 401,
  BODY_TOO_LARGE: 413,
  // The client sent nothing of its request body for `bodyIdleTimeoutMs`.
  BODY_TIMEOUT: 408,
  FUNCTION_UNKNOWN: 404,
  FUNCTION_NOT_ENABLED: 404,
  PROVIDER_UNAVAILABLE: 503,
  PROVIDER_CONFLICT: 409,
  PROVIDER_FORBIDDEN: 503,
  PROVIDER_FAILED: 502,
  // A decision of a gateway that lost the function's bucket before writing it (the fence).
  NOT_OWNER: 409,
  UPSTREAM_FAILED: 502,
  WAKE_TIMEOUT: 504,
  WAKE_FAILED: 502,
  QUEUE_FULL: 503,
  QUEUE_TIMEOUT: 504,
  REQUEST_TIMEOUT: 504,
  // The replica sent nothing of its answer for `responseIdleTimeoutMs` (the answer is cut).
  RESPONSE_IDLE: 504,
  SHUTTING_DOWN: 503,
  NOT_FOUND: 404,
  // The CLI's own: bad command-line usage (exit 2), and a gateway it could not use (exit 1).
  USAGE: 400,
  GATEWAY_FAILED: 502,
  // Prometheus did not answer a query the engine needs (the caller falls back to its own view).
  METRICS_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** The application's only error type: a code from the closed union, a message, an optional cause. */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  /** Extra fields that go into the JSON error body (bounded, safe to show). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** HTTP status for this error, from the one table. */
  get status(): number {
    return httpStatusOf[this.code];
  }
}

/** True when `err` is an AppError, optionally with one of the given codes. */
export function isAppError(err: unknown, ...codes: ErrorCode[]): err is AppError {
  return err instanceof AppError && (codes.length === 0 || codes.includes(err.code));
}
