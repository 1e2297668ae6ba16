/**
 * The protocol sniff of src/bootstrap/protocols.ts on its own: an HTTP/1.1 server with
 * serveH2c, on 127.0.0.1. The first bytes of a connection pick HTTP/2 or HTTP/1.1, also when
 * they arrive one byte at a time; a method that starts like the preface (PROPFIND) stays
 * HTTP/1.1; a connection silent before its first byte is closed after headersTimeout.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { serveH2c, type H2Listener } from '../../src/bootstrap/protocols.js';

let server: http.Server;
let h2: H2Listener;
let port: number;
beforeAll(async () => {
  server = http.createServer((req, res) => res.end(`h1 ${req.method} ${req.url}`));
  server.headersTimeout = 400;
  server.requestTimeout = 400;
  h2 = serveH2c(server, (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(`h2 ${headers[':method']} ${headers[':path']}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  h2.closeAll();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A TCP relay to the server that sends the client's first `slowBytes` bytes one at a time, 2 ms apart. */
async function tricklingRelay(slowBytes: number): Promise<{ port: number; close: () => void }> {
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.pipe(client);
    let sent = 0;
    let queue = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      queue = queue.then(async () => {
        for (let i = 0; i < chunk.length; i++) {
          if (sent >= slowBytes) {
            upstream.write(chunk.subarray(i));
            return;
          }
          upstream.write(chunk.subarray(i, i + 1));
          sent += 1;
          await new Promise((r) => setTimeout(r, 2));
        }
      });
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return { port: (relay.address() as AddressInfo).port, close: () => relay.close() };
}

function h2Get(to: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${to}`);
    session.on('error', reject);
    const req = session.request({ ':path': path });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      session.close();
      resolve(body);
    });
    req.on('error', reject);
    req.end();
  });
}

function h1(to: number, method: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port: to, method, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject)
      .end();
  });
}

describe('the protocol sniff on the function listener', () => {
  it('HTTP/2 with prior knowledge and HTTP/1.1 are both served on the one port', async () => {
    expect(await h2Get(port, '/a')).toBe('h2 GET /a');
    expect(await h1(port, 'GET', '/b')).toBe('h1 GET /b');
  });

  it('an HTTP/2 preface that arrives one byte at a time is still HTTP/2', async () => {
    const relay = await tricklingRelay(30);
    try {
      expect(await h2Get(relay.port, '/slow-preface')).toBe('h2 GET /slow-preface');
    } finally {
      relay.close();
    }
  });

  it('an HTTP/1.1 method that starts like the preface (PROPFIND), one byte at a time, stays HTTP/1.1', async () => {
    const relay = await tricklingRelay(8);
    try {
      expect(await h1(relay.port, 'PROPFIND', '/dav')).toBe('h1 PROPFIND /dav');
    } finally {
      relay.close();
    }
  });

  it('a connection that sends nothing is closed after the headers timeout', async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const started = performance.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(300);
    expect(ms).toBeLessThan(5000);
  });

  it('open HTTP/2 sessions are known, so shutdown can close them', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const req = session.request({ ':path': '/held' });
    req.resume();
    await new Promise((resolve) => req.once('end', resolve));
    expect(h2.sessions.size).toBeGreaterThanOrEqual(1);
    const closed = new Promise((resolve) => session.once('close', resolve));
    h2.closeIdle();
    await closed;
    for (let i = 0; i < 100 && h2.sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(h2.sessions.size).toBe(0);
  });
});
