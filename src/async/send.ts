import http from 'node:http';
import https from 'node:https';
import type { Slot } from '../engine/dispatcher.js';
import { setSendHeaders } from '../gateway/proxy-retry.js';
import type { AsyncCall } from './types.js';

/** A function's answer to an async call, its body bounded. */
export interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
  readonly seconds: number;
}

/** Reads a response body up to `limit` bytes (the rest is dropped, the socket destroyed). */
function readBody(res: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        res.destroy();
        resolve(Buffer.concat(chunks));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

/** A failed send: `unsent` when the call provably never reached the replica (the connect failed, or none of its bytes left). */
export type SendError = Error & { unsent?: boolean };

/**
 * Sends a stored call to the slot's replica (the proxy's path join and send headers) and reads
 * the answer up to `bodyLimit` bytes. Ends at the slot's request timeout. Never releases the
 * slot. A failure says whether the call could have reached the replica (SendError.unsent).
 */
export function sendToReplica(call: AsyncCall, slot: Slot, agent: http.Agent, bodyLimit: number): Promise<Answer> {
  const url = slot.url;
  const base = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : '';
  const path = base + (call.path === '' ? '/' : call.path) + call.query;
  const headers = [...call.headers];
  const body = Buffer.from(call.body, 'base64');
  setSendHeaders(headers, url.host, true, slot.forwarded === true);
  const started = performance.now();
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: call.method, path, headers, agent });
    // The socket's byte count when the call got it: unchanged at a failure, nothing of the call left (as the proxy reads it).
    let sentFrom = -1;
    req.once('socket', (socket) => (sentFrom = socket.bytesWritten));
    const unsent = (err: NodeJS.ErrnoException): boolean =>
      err.syscall === 'connect' || err.code === 'ECONNREFUSED' || sentFrom < 0 || (req.socket !== null && req.socket.bytesWritten === sentFrom);
    slot.onTimeout((reason) => req.destroy(reason));
    req.on('response', (res) => {
      readBody(res, bodyLimit).then(
        (data) => resolve({ status: res.statusCode ?? 502, contentType: res.headers['content-type'], body: data, seconds: (performance.now() - started) / 1000 }),
        reject,
      );
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { unsent: unsent(err) })));
    req.end(body);
  }).finally(() => slot.onTimeout(null));
}

/** POSTs the answer to the call's callback URL; resolves with the callback's status, rejects on a network error or the timeout. */
export function postCallback(call: AsyncCall, answer: Answer, timeoutMs: number): Promise<number> {
  const target = new URL(call.callbackUrl ?? '');
  const client = target.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = {
    'X-Call-Id': call.id,
    'X-Function-Status': String(answer.status),
    'X-Duration-Seconds': answer.seconds.toFixed(6),
    'X-Function-Name': call.fn,
    'Content-Length': String(answer.body.length),
  };
  if (answer.contentType !== undefined) headers['Content-Type'] = answer.contentType;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(target, { method: 'POST', headers, timeout: timeoutMs });
    req.on('timeout', () => req.destroy(new Error('callback timed out')));
    // A bound on the whole exchange, not only on silence: a receiver that trickles its answer holds no worker.
    const deadline = setTimeout(() => req.destroy(new Error(`callback not done within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
      res.on('close', () => reject(new Error('callback answer cut')));
    });
    req.on('error', reject);
    req.end(answer.body);
  });
}
