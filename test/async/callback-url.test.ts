import { networkInterfaces } from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { checkCallbackUrl, createAsyncAccept } from '../../src/async/accept.js';
import type { AsyncCall, AsyncQueue } from '../../src/async/types.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { postCallback } from '../../src/async/send.js';
import { backoffMs } from '../../src/async/worker.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback URL with one part changed: these URLs are only parsed and refused, never called. */
function variant(change: (url: URL) => void): string {
  const url = new URL('http://127.0.0.1:8081/x');
  change(url);
  return url.href;
}

/** This machine's interface addresses as a URL writes them (a callback to one of them on a gateway port is this gateway). */
const ownAddresses = Object.values(networkInterfaces())
  .flatMap((list) => list ?? [])
  .filter((a) => !a.internal)
  .map((a) => (a.family === 'IPv6' ? `[${a.address.split('%')[0] ?? ''}]` : a.address))
  .filter((a) => !a.startsWith('[fe80'));

describe('X-Callback-Url check', () => {
  const own = [8080, 8081];
  it.each([
    ['http://127.0.0.1:8081/system/scale-function/fn', 'the admin listener on loopback'],
    ['http://localhost:8080/async-function/fn', 'the function listener (a loop)'],
    ['http://[::1]:8081/x', 'IPv6 loopback'],
    ['http://[::ffff:127.0.0.1]:8081/x', 'IPv4-mapped loopback (the URL parser writes it [::ffff:7f00:1])'],
    ['http://[0:0:0:0:0:ffff:7f00:1]:8081/x', 'IPv4-mapped loopback in full'],
    ['http://[::ffff:0.0.0.0]:8080/x', 'the IPv4-mapped wildcard'],
    ['http://127.1:8081/x', 'loopback in short form (the URL parser writes it 127.0.0.1)'],
    ...ownAddresses.map((address): [string, string] => [`http://${address}:8081/x`, 'an address of this machine']),
    [variant((u) => (u.hostname = '0.0.0.0')), 'the wildcard address'],
    ['ftp://127.0.0.1/x', 'not http(s)'],
    [variant((u) => ((u.port = '9000'), (u.username = 'user'), (u.password = 'pw'))), 'credentials'],
    ['not a url', 'not a URL'],
    [`http://127.0.0.1:9000/${'x'.repeat(3000)}`, 'too long'],
  ])('refuses %s (%s)', (url) => {
    expect(() => checkCallbackUrl(url, own)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }) as unknown as Error);
  });

  it.each(['http://127.0.0.1:9000/cb', 'https://127.0.0.1:9443/hook', 'http://127.0.0.1:18081/x', 'http://[::ffff:127.0.0.1]:9000/cb'])('accepts %s', (url) => {
    expect(checkCallbackUrl(url, own)).toBe(new URL(url).href);
  });
});

describe('retry backoff', () => {
  it('doubles per attempt with 50-100 % jitter, capped at 60 s', () => {
    for (let i = 0; i < 50; i++) {
      const first = backoffMs(500, 1);
      expect(first).toBeGreaterThanOrEqual(250);
      expect(first).toBeLessThanOrEqual(500);
      const third = backoffMs(500, 3);
      expect(third).toBeGreaterThanOrEqual(1000);
      expect(third).toBeLessThanOrEqual(2000);
      expect(backoffMs(500, 40)).toBeLessThanOrEqual(60_000);
    }
  });
});

describe('a callback receiver that trickles its answer', () => {
  it('is cut at the callback timeout (a bound on the whole exchange, not on silence): the worker is not held', async () => {
    const timers: NodeJS.Timeout[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200);
      // One byte every 50 ms, never the end: never silent for the 300 ms timeout.
      timers.push(setInterval(() => res.write('.'), 50));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
      const call = { id: 'c-1', fn: 'fn', method: 'POST', path: '', query: '', headers: [], body: '', callbackUrl: url, acceptedAt: 0 };
      const started = performance.now();
      await expect(postCallback(call, { status: 200, contentType: undefined, body: Buffer.from('x'), seconds: 0 }, 300)).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('an accepted async call', () => {
  it("carries the gateway's X-Call-Id alone: one a client sent is not forwarded (a function dedupes on the gateway's)", async () => {
    const stored: AsyncCall[] = [];
    const queue = { enqueue: async (call: AsyncCall) => void stored.push(call) } as unknown as AsyncQueue;
    const accept = createAsyncAccept({
      queue, dispatcher: { track: async () => undefined }, clock: systemClock, logger: silentLogger(), defaultNamespace: 'openfaas-fn',
      bodyLimitBytes: 1024, bodyIdleTimeoutMs: 0, trustedProxies: undefined, ownPorts: () => [],
    });
    const server = http.createServer((req, res) => accept(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const reply = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/async-function/fn', headers: { 'X-Call-Id': 'chosen-by-the-client', 'x-call-id': 'another' } }, resolve);
        req.on('error', reject);
        req.end('body');
      });
      reply.resume();
      expect(reply.statusCode).toBe(202);
      const headers = stored[0]?.headers ?? [];
      const ids = headers.filter((_, i) => i % 2 === 1 && /^x-call-id$/i.test(headers[i - 1] ?? ''));
      expect(ids).toEqual([reply.headers['x-call-id']]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

