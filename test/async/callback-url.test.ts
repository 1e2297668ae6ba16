import { networkInterfaces } from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { checkCallbackUrl } from '../../src/async/accept.js';
import { backoffMs } from '../../src/async/worker.js';

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
    ['http://2130706433:8081/x', 'loopback as one number'],
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
