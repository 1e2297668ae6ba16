import type { AppError, ErrorCode } from '../errors.js';

/** gRPC status codes the gateway answers with (grpc/grpc doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The gateway's own errors whose gRPC status is not the one their HTTP status maps to. */
const BY_CODE: Partial<Record<ErrorCode, number>> = {
  QUEUE_FULL: GrpcStatus.RESOURCE_EXHAUSTED,
  BODY_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  REQUEST_TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  LABELS_INVALID: GrpcStatus.FAILED_PRECONDITION,
};

/**
 * The gRPC status of a gateway error: RESOURCE_EXHAUSTED for a full queue or an oversize
 * body, DEADLINE_EXCEEDED for the request timeout (or the client's deadline), else the gRPC
 * project's HTTP mapping (doc/http-grpc-status-mapping.md): 404 (an unknown function)
 * UNIMPLEMENTED, 429/502/503/504 (no replica, upstream failure, shutdown) UNAVAILABLE.
 */
export function grpcStatusOf(error: AppError): number {
  const own = BY_CODE[error.code];
  if (own !== undefined) return own;
  switch (error.status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/**
 * True for a gRPC request's content type (`application/grpc`, `application/grpc+proto`, ...);
 * gRPC-Web (`application/grpc-web*`, made for HTTP/1.1) is plain HTTP to the gateway.
 */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc') && !contentType.startsWith('application/grpc-web');
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * A `grpc-timeout` value (1 to 8 digits and a unit H, M, S, m, u or n) in whole ms, at least
 * 1; undefined when absent or not of that form (then the call has no deadline of its own).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return undefined;
  return Math.max(1, Math.ceil(Number(m[1]) * (UNIT_MS[m[2] ?? 'm'] ?? 1)));
}

/** A `grpc-timeout` value for `ms` milliseconds (at least 1). */
export function grpcTimeoutValue(ms: number): string {
  return `${Math.max(1, Math.min(99_999_999, Math.ceil(ms)))}m`;
}

/** A `grpc-message` value: the text percent-encoded outside printable ASCII (and `%`), at most 1 KiB. */
export function grpcMessage(text: string): string {
  const bytes = Buffer.from(text.length > 1024 ? text.slice(0, 1024) : text, 'utf8');
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
