/**
 * The gRPC pieces of the HTTP/2 proxy, table by table: the gRPC status of each gateway
 * error, `grpc-timeout` values, `grpc-message` encoding, and the HTTP/2 header conversions.
 */
import type http2 from 'node:http2';
import { describe, expect, it } from '@jest/globals';
import { AppError, type ErrorCode } from '../../src/errors.js';
import { GrpcStatus, grpcMessage, grpcStatusOf, grpcTimeoutValue, isGrpc, parseGrpcTimeout } from '../../src/gateway/grpc.js';
import { addH2Headers, answerHeaders, cleanTrailers, h1RawHeaders } from '../../src/gateway/h2-answer.js';

describe('the gRPC status of a gateway error', () => {
  const rows: Array<[ErrorCode, number]> = [
    ['QUEUE_FULL', GrpcStatus.RESOURCE_EXHAUSTED],
    ['BODY_TOO_LARGE', GrpcStatus.RESOURCE_EXHAUSTED],
    ['REQUEST_TIMEOUT', GrpcStatus.DEADLINE_EXCEEDED],
    ['UPSTREAM_FAILED', GrpcStatus.UNAVAILABLE],
    ['WAKE_TIMEOUT', GrpcStatus.UNAVAILABLE],
    ['WAKE_FAILED', GrpcStatus.UNAVAILABLE],
    ['QUEUE_TIMEOUT', GrpcStatus.UNAVAILABLE],
    ['PROVIDER_UNAVAILABLE', GrpcStatus.UNAVAILABLE],
    ['SHUTTING_DOWN', GrpcStatus.UNAVAILABLE],
    ['FUNCTION_UNKNOWN', GrpcStatus.UNIMPLEMENTED],
    ['NOT_FOUND', GrpcStatus.UNIMPLEMENTED],
    ['BAD_REQUEST', GrpcStatus.INTERNAL],
    ['LABELS_INVALID', GrpcStatus.FAILED_PRECONDITION],
    ['UNAUTHORIZED', GrpcStatus.UNAUTHENTICATED],
    ['INTERNAL', GrpcStatus.UNKNOWN],
  ];
  it.each(rows)('%s is gRPC status %d', (code, status) => {
    expect(grpcStatusOf(new AppError(code, 'x'))).toBe(status);
  });
});

describe('grpc-timeout', () => {
  const rows: Array<[string | undefined, number | undefined]> = [
    ['100m', 100],
    ['2S', 2000],
    ['1M', 60_000],
    ['1H', 3_600_000],
    ['1500u', 2],
    ['5n', 1],
    ['0m', 1],
    ['99999999m', 99_999_999],
    ['123456789m', undefined],
    ['10', undefined],
    ['10s', undefined],
    ['-1m', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  it.each(rows)('%s is %s ms', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBe(ms);
  });

  it('a value sent on is whole milliseconds, at least 1, at most 8 digits', () => {
    expect([grpcTimeoutValue(0.2), grpcTimeoutValue(250.4), grpcTimeoutValue(1e12)]).toEqual(['1m', '251m', '99999999m']);
  });
});

describe('grpc-message and content types', () => {
  it('percent-encodes what is not printable ASCII, and %', () => {
    expect(grpcMessage('ok: 50% done\nnext é')).toBe('ok: 50%25 done%0Anext %C3%A9');
  });

  it('a gRPC request is any application/grpc content type but gRPC-Web', () => {
    expect([isGrpc('application/grpc'), isGrpc('application/grpc+proto'), isGrpc('application/grpc-web+proto'), isGrpc('application/json'), isGrpc(undefined)]).toEqual([true, true, false, false, false]);
  });
});

describe('HTTP/2 headers', () => {
  it('a stream\'s raw headers read as HTTP/1.1 pairs: pseudo-headers dropped, :authority as Host', () => {
    expect(h1RawHeaders([':method', 'GET', ':path', '/function/f', ':authority', 'gw:8080', ':scheme', 'http', 'x-a', '1'])).toEqual(['Host', 'gw:8080', 'x-a', '1']);
  });

  it('cookie fields split by HTTP/2 are joined into one for HTTP/1.1', () => {
    expect(h1RawHeaders([':path', '/x', 'cookie', 'a=1', 'x-b', '2', 'cookie', 'c=3'])).toEqual(['x-b', '2', 'cookie', 'a=1; c=3']);
  });

  it('pairs become an HTTP/2 headers object: lower case, repeats as arrays, Host as :authority, forbidden ones dropped', () => {
    expect(addH2Headers(['Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Host', 'r:1', 'HTTP2-Settings', 'x', ':path', '/evil', 'X-One', '1'], { ':status': 200 })).toEqual({
      ':status': 200,
      'set-cookie': ['a=1', 'b=2'],
      ':authority': 'r:1',
      'x-one': '1',
    });
  });

  it("a replica's HTTP/2 answer keeps :status and drops other pseudo-headers", () => {
    expect(answerHeaders({ ':status': 200, ':path': '/x', 'content-type': 'application/grpc' } as unknown as http2.IncomingHttpHeaders)).toEqual({ ':status': 200, 'content-type': 'application/grpc' });
  });

  it('trailers go on without pseudo-headers and connection headers', () => {
    expect(cleanTrailers({ 'grpc-status': '0', ':status': '200', Connection: 'close', 'X-Sum': 'abc', 'content-length': '3', none: undefined })).toEqual({ 'grpc-status': '0', 'x-sum': 'abc' });
    expect(cleanTrailers(null)).toEqual({});
  });
});
