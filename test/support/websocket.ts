import net from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { packageRoot } from '../../src/bootstrap.js';
import type { TestFunction } from './harness.js';

/** The WebSocket replica fixture (the npm `ws` server): echo, "stats", refusals, a slow upgrade. */
export const WS_REPLICA = join(packageRoot(), 'test', 'gateway', 'fixtures', 'ws-replica.mjs');

/** A stack function running the WebSocket replica with these labels. */
export function wsFunction(labels: Record<string, string> = {}): TestFunction {
  return { command: [process.execPath, WS_REPLICA], labels };
}

/** The ws:// form of an http:// URL. */
export function wsUrl(httpUrl: string, path: string): string {
  return httpUrl.replace(/^http:/, 'ws:') + path;
}

/** Opens a WebSocket (`onUpgrade` sees the 101's headers); rejects on a refusal (with its status) or an error, or after `timeoutMs`. */
export function openSocket(url: string, timeoutMs = 15_000, onUpgrade?: (headers: Record<string, string | string[] | undefined>) => void): Promise<WebSocket> {
  const ws = new WebSocket(url);
  if (onUpgrade !== undefined) ws.once('upgrade', (res) => onUpgrade(res.headers));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      ws.terminate();
      reject(new Error(`refused with ${res.statusCode ?? 0}`));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The next message the socket receives (as a Buffer, with its binary flag); rejects after `timeoutMs`. */
export function nextMessage(ws: WebSocket, timeoutMs = 15_000): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
    ws.once('message', (data, binary) => {
      clearTimeout(timer);
      resolve({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), binary });
    });
  });
}

/** Sends `text` and resolves the reply as text. */
export async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = nextMessage(ws);
  ws.send(text);
  return (await reply).data.toString();
}

/** Resolves when the socket closes: its close code and when (Date.now()); rejects after `timeoutMs`. */
export function closed(ws: WebSocket, timeoutMs = 20_000): Promise<{ code: number; at: number }> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) {
      reject(new Error('already closed'));
      return;
    }
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, at: Date.now() });
    });
  });
}

/** The answer to an upgrade that is refused: status, headers and body. Rejects when it opens. */
export function refusal(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('opened'));
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
  });
}

/** A raw upgrade request's bytes for `path` (a fixed, valid Sec-WebSocket-Key). */
export function upgradeRequest(path: string, port: number): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
}

/** A raw TCP client to 127.0.0.1:`port`: what it received so far, and a promise of its close. */
export function rawClient(port: number): { socket: net.Socket; received: () => string; closedAt: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closedAt = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => text, closedAt };
}
