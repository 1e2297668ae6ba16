import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestHandler } from './proxy.js';

/** A Node `'upgrade'` listener: the request, its socket (no longer parsed by Node) and the bytes after its head. */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

/** True when the request asks for a WebSocket (`GET` with `Upgrade: websocket`, any case). */
export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return req.method === 'GET' && typeof upgrade === 'string' && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/** True when the request declares a body (a Content-Length above 0, or a Transfer-Encoding). */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * An HTTP answer on a socket Node handed over as an upgrade: a ServerResponse of its own
 * (framing, Date, the usual headers) with `Connection: close`; the socket ends once the
 * answer is out. Errors on the socket are swallowed (a client that left gets nothing).
 */
export function rawResponse(req: http.IncomingMessage, socket: Duplex): http.ServerResponse {
  socket.on('error', ignore);
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  // As Node's server does for its own responses: 'close' follows 'finish' (handlers release
  // what they hold there), then the socket ends; a socket that closes first closes the response.
  res.once('finish', () => {
    res.detachSocket(socket as Socket);
    process.nextTick(() => res.emit('close'));
    (socket as Socket).destroySoon();
  });
  return res;
}

/**
 * Serves an upgrade request the gateway does not upgrade (not a WebSocket, or not on the
 * function route) as the plain request it also is: the same handler, the answer with
 * `Connection: close` (the socket is no longer parsed). Such a request with a body cannot be
 * read (its bytes were handed over raw): 400 then, from `refuse`.
 */
export function serveAsRequest(req: http.IncomingMessage, socket: Duplex, handler: RequestHandler, refuse: (res: http.ServerResponse) => void): void {
  const res = rawResponse(req, socket);
  if (hasBody(req)) refuse(res);
  else handler(req, res);
}

function ignore(): void {}
