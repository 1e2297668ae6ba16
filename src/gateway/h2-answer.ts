import http2 from 'node:http2';
import type { AppError } from '../errors.js';
import { RETRY_LATER } from './error-response.js';
import { grpcMessage, grpcStatusOf, grpcTimeoutValue } from './grpc.js';

/** Headers HTTP/2 forbids (RFC 9113 8.2.2) besides those proxy-headers.ts drops as hop-by-hop. */
const CONNECTION_SPECIFIC = new Set(['http2-settings', 'host']);

/**
 * An HTTP/2 stream's raw request headers as HTTP/1.1-style pairs, what `requestHeaders`
 * reads: the pseudo-headers dropped, `:authority` as `Host`, cookie fields joined into one.
 */
export function h1RawHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let cookie: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    if (name === 'cookie') cookie = cookie === null ? value : `${cookie}; ${value}`;
    else if (name.charCodeAt(0) !== 0x3a) out.push(name, value);
    else if (name === ':authority') out.push('Host', value);
  }
  // HTTP/2 may split cookies over several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
  if (cookie !== null) out.push('cookie', cookie);
  return out;
}

/**
 * Adds a flat `[name, value, ...]` list to an HTTP/2 headers object: names in lower case,
 * a repeated name as an array, `Host` as `:authority`, headers HTTP/2 forbids dropped.
 */
export function addH2Headers(pairs: readonly string[], into: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = (pairs[i] ?? '').toLowerCase();
    const value = pairs[i + 1] ?? '';
    if (name === 'host') {
      into[':authority'] = value;
      continue;
    }
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 0x3a) continue;
    const had = into[name];
    if (had === undefined) into[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else into[name] = [String(had), value];
  }
  return into;
}

/**
 * The headers of a call sent to a replica over h2c: the forwarded pairs (Host as `:authority`)
 * under the call's method and path; a gRPC call adds `te: trailers` and, when it has a
 * deadline, `grpc-timeout` for what is left of it (`leftMs`).
 */
export function h2cRequestHeaders(forward: readonly string[], method: string, path: string, grpc: boolean, leftMs: number | undefined): http2.OutgoingHttpHeaders {
  const headers = addH2Headers(forward, { ':method': method, ':path': path, ':scheme': 'http' });
  if (grpc) {
    headers['te'] = 'trailers';
    if (leftMs !== undefined) headers['grpc-timeout'] = grpcTimeoutValue(leftMs);
  }
  return headers;
}

/** An HTTP/2 replica's answer headers for the client: `:status` kept, other pseudo-headers dropped. */
export function answerHeaders(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a && name !== ':status') continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Trailers as they may go on: pseudo-headers and connection headers dropped; undefined values left out. */
export function cleanTrailers(trailers: Readonly<Record<string, string | string[] | undefined>> | null): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  if (trailers === null) return out;
  for (const name of Object.keys(trailers)) {
    const lower = name.toLowerCase();
    const value = trailers[name];
    if (value === undefined || lower.charCodeAt(0) === 0x3a || CONNECTION_SPECIFIC.has(lower) || lower === 'connection' || lower === 'transfer-encoding' || lower === 'content-length') continue;
    out[lower] = value;
  }
  return out;
}

/** The gRPC status and message of a gateway error, as trailers (or a trailers-only answer's headers). */
export function grpcErrorFields(error: AppError): http2.OutgoingHttpHeaders {
  return { 'grpc-status': String(grpcStatusOf(error)), 'grpc-message': grpcMessage(`${error.code}: ${error.message}`) };
}

/**
 * Answers an HTTP/2 stream with a gateway error before any answer went out: a gRPC request
 * gets a trailers-only gRPC answer (HTTP 200, `grpc-status`, `grpc-message`), any other the
 * JSON error of the HTTP/1.1 proxy with the status from the error table (and `retry-after`).
 */
export function writeH2Error(stream: http2.ServerHttp2Stream, error: AppError, grpc: boolean): void {
  if (stream.destroyed || stream.headersSent) return;
  if (grpc) stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...grpcErrorFields(error) }, { endStream: true });
  else {
    const body = JSON.stringify({ error: { code: error.code, message: error.message, ...error.details } });
    const headers: http2.OutgoingHttpHeaders = { ':status': error.status, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    if (RETRY_LATER.has(error.code)) headers['retry-after'] = '1';
    stream.respond(headers);
    stream.end(body);
  }
  // The rest of a request body is not wanted: once the answer is out, the client is asked to
  // stop sending (RST_STREAM NO_ERROR, RFC 9113 8.1) instead of the gateway reading it.
  if (stream.state.remoteClose !== 1) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}
