import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { Clock } from '../core/clock.js';
import type { Dispatcher } from '../engine/dispatcher.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { asAppError, logRequestFailure, writeError } from '../gateway/error-response.js';
import { OPERATOR_CREDENTIALS, requestHeaders, trustedProxyCheck } from '../gateway/proxy-headers.js';
import { parseFunctionTarget } from '../gateway/proxy-path.js';
import { parseFunctionRef } from '../providers/types.js';
import type { AsyncCall, AsyncQueue } from './types.js';

const PREFIX = '/async-function/';
const CALLBACK_HEADER = 'x-callback-url';
const MAX_CALLBACK_URL = 2048;
/** Functions already looked up (a bound: past it the set starts again). */
const MAX_KNOWN = 10_000;

/** True for the async route's paths. */
export function isAsyncRoute(url: string): boolean {
  return url.startsWith(PREFIX);
}

export interface AcceptOptions {
  readonly queue: AsyncQueue;
  readonly dispatcher: Pick<Dispatcher, 'track'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  readonly bodyLimitBytes: number;
  readonly bodyIdleTimeoutMs: number;
  readonly trustedProxies: readonly string[] | undefined;
  /** The gateway's own ports: a callback to one of them on this machine is refused. */
  readonly ownPorts: () => readonly number[];
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|\[::\]|0\.0\.0\.0)$/i;
/** An IPv4-mapped IPv6 host as the URL parser writes it (`[::ffff:7f00:1]` for ::ffff:127.0.0.1). */
const MAPPED = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/i;

/** The host a URL names, an IPv4-mapped IPv6 one as its IPv4 (`[::ffff:7f00:1]` → 127.0.0.1). */
function plainHost(host: string): string {
  const mapped = MAPPED.exec(host);
  if (mapped === null) return host.toLowerCase();
  const [hi, lo] = [parseInt(mapped[1] ?? '0', 16), parseInt(mapped[2] ?? '0', 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Whether `host` (as a URL writes it) is this machine: loopback, the wildcard, its name or one of its interface addresses. */
function isThisMachine(host: string): boolean {
  const plain = plainHost(host);
  if (LOOPBACK.test(plain) || plain === hostname().toLowerCase()) return true;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if ((a.family === 'IPv6' ? `[${a.address.toLowerCase()}]` : a.address) === plain) return true;
  }
  return false;
}

/**
 * Checks an `X-Callback-Url`: http or https, no credentials, at most 2 KiB, and not this
 * gateway's own listeners (on one of its ports: a loopback address in any form, this host's
 * name or one of its interface addresses): a client could otherwise make the gateway post
 * answers to its admin API or call itself in a loop.
 */
export function checkCallbackUrl(raw: string, ownPorts: readonly number[]): string {
  if (raw.length > MAX_CALLBACK_URL) throw new AppError('BAD_REQUEST', `X-Callback-Url is over ${MAX_CALLBACK_URL} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new AppError('BAD_REQUEST', 'X-Callback-Url is not a URL', { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('BAD_REQUEST', 'X-Callback-Url must be http or https');
  if (url.username !== '' || url.password !== '') throw new AppError('BAD_REQUEST', 'X-Callback-Url must not carry credentials');
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (ownPorts.includes(port) && isThisMachine(url.hostname)) throw new AppError('BAD_REQUEST', 'X-Callback-Url names this gateway: refused', { details: { port } });
  return url.href;
}

/** Reads a request body up to `limit` bytes (413 past it), with a pause limit between pieces (408). */
function readBody(req: http.IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    if (idleMs > 0) req.setTimeout(idleMs, () => reject(new AppError('BODY_TIMEOUT', 'request body paused too long')));
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new AppError('BODY_TOO_LARGE', `request body is over the ${limit} byte limit`));
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => reject(new AppError('BAD_REQUEST', 'request body failed', { cause: err })));
  });
}

/**
 * `POST /async-function/<name>[.<namespace>][/<path>]` on the raw request: an unknown function
 * is 404 at once; otherwise the call (method, sub-path, query, headers without hop-by-hop
 * ones, body) is stored durably and answered 202 with `X-Call-Id`.
 */
export function createAsyncAccept(options: AcceptOptions): (req: http.IncomingMessage, res: http.ServerResponse, sandboxed?: boolean) => void {
  const log = options.logger.child({ component: 'async' });
  const isTrusted = trustedProxyCheck(options.trustedProxies);
  const known = new Set<string>();
  const accept = async (req: http.IncomingMessage, res: http.ServerResponse, sandboxed: boolean): Promise<void> => {
    const target = parseFunctionTarget(`/function/${(req.url ?? '').slice(PREFIX.length)}`);
    // On the admin listener the operator's credentials stay here: they are never stored with the call.
    const headers = requestHeaders(req.rawHeaders, req.socket.remoteAddress, false, isTrusted, sandboxed ? OPERATOR_CREDENTIALS : undefined);
    if (headers.contentLength > options.bodyLimitBytes) throw new AppError('BODY_TOO_LARGE', `request body of ${headers.contentLength} bytes is over the ${options.bodyLimitBytes} byte limit`);
    const rawCallback = req.headers[CALLBACK_HEADER];
    const callbackUrl = typeof rawCallback === 'string' && rawCallback !== '' ? checkCallbackUrl(rawCallback, options.ownPorts()) : undefined;
    if (!known.has(target.name)) {
      await options.dispatcher.track(parseFunctionRef(target.name, options.defaultNamespace));
      if (known.size >= MAX_KNOWN) known.clear();
      known.add(target.name);
    }
    const body = await readBody(req, options.bodyLimitBytes, options.bodyIdleTimeoutMs);
    // The body's length is set anew; a client's own X-Call-Id is dropped: the function dedupes on the gateway's.
    const forward = headers.forward.filter((_, i, all) => !/^(content-length|x-call-id)$/i.test(all[i - (i % 2)] ?? ''));
    const id = randomUUID();
    // The function sees the call id too (it dedupes a call delivered twice with it).
    forward.push('Content-Length', String(body.length), 'X-Call-Id', id);
    const call: AsyncCall = { id, fn: target.name, method: req.method ?? 'POST', path: target.path, query: target.query, headers: forward, body: body.toString('base64'), callbackUrl, acceptedAt: options.clock.now() };
    await options.queue.enqueue(call);
    res.writeHead(202, { 'X-Call-Id': call.id, 'Content-Length': '0' });
    res.end();
  };
  return (req, res, sandboxed = false) => {
    accept(req, res, sandboxed).catch((err: unknown) => {
      const error = asAppError(err);
      logRequestFailure(log, error, { method: req.method, path: (req.url ?? '').split('?')[0] });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A body not read (refused early) is not waited for.
      res.setHeader('Connection', 'close');
      writeError(res, error);
    });
  };
}
