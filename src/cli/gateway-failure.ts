import { AppError } from '../errors.js';

/** AppError GATEWAY_FAILED with its details (and the cause, when there is one). */
export function failed(message: string, details: Record<string, unknown>, cause?: unknown): AppError {
  return new AppError('GATEWAY_FAILED', message, { details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Why a request got no answer: the system error code of fetch's cause (ECONNREFUSED,
 * ENOTFOUND, ...), else a message. Duck-typed: the error may come from another realm.
 */
export function networkReason(err: unknown, timeoutMs: number): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  for (const candidate of [cause, err]) {
    const code = (candidate as { code?: unknown } | null)?.code;
    if (typeof code === 'string') return code;
    if ((candidate as { name?: unknown } | null)?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms (--timeout)`;
  }
  const message = (cause as { message?: unknown } | null)?.message ?? (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

/** The code and message of an alert-scaler error body, when it is one. */
export function errorOf(body: Buffer): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
    return { ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) };
  } catch {
    return {};
  }
}
