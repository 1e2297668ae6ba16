import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { climbsAboveBase } from '../../src/gateway/proxy-path.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { rawGet } from './raw-client.js';

const RAW = join(packageRoot(), 'test', 'gateway', 'fixtures', 'raw-replica.mjs');

let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler({ wire: { command: [process.execPath, RAW], environment: { MODE: 'echo' } } });
  await eventually(async () => (await s.provider.getReplicas({ name: 'wire', namespace: 'openfaas-fn' })).ready === 1);
});
afterAll(async () => {
  await s.close();
});

/** The request line the replica received for a raw request target. */
async function seenBy(target: string): Promise<{ status: number; line: string; code: string }> {
  const answer = await rawGet(s.port, target);
  const code = /"code":"([A-Z_]+)"/.exec(answer.body)?.[1] ?? '';
  return { status: answer.status, line: answer.body.split('\r\n')[0] ?? '', code };
}

describe('the sub-path after /function/<name>', () => {
  const kept: Array<[string, string]> = [
    ['an encoded slash', '/a%2Fb'],
    ['an encoded question mark', '/a%3Fq=1'],
    ['an encoded hash', '/a%23b'],
    ['an encoded space', '/a%20b'],
    ['an encoded CR LF', '/%0d%0a'],
    ['encoded UTF-8', '/%c3%a9'],
    ['a query with encoded bytes', '/x?a=%2F&b=%20c'],
    ['dot-segments that stay inside the base', '/a/b/../c/./d'],
    ['an empty sub-path', ''],
  ];
  it.each(kept)('with %s reaches the replica byte for byte', async (_name, path) => {
    const { status, line } = await seenBy(`/function/wire${path}`);
    expect(status).toBe(200);
    expect(line).toBe(`GET ${path.startsWith('/') ? path : `/${path}`} HTTP/1.1`);
  });

  const climbing = [
    '/../../system/functions',
    '/%2e%2e%2f%2e%2e%2fx',
    '/%2E%2e/x',
    '/a/../../x',
    '/a%2f..%2f..%2fx',
    '/..\\x',
    '/a%5c..%5c..%5cx',
    '/.%2e/x',
    '/..;/x',
  ];
  it.each(climbing)('%s climbs above the function base: 400 BAD_REQUEST, nothing forwarded', async (path) => {
    const { status, code } = await seenBy(`/function/wire${path}`);
    expect(status).toBe(400);
    expect(code).toBe('BAD_REQUEST');
  });

  it('a raw fragment or DEL byte is a 400, not a 500 from a throw', async () => {
    for (const target of ['/function/wire/a#b', '/function/wire/a\u007fb']) {
      const { status } = await seenBy(target);
      expect(status).toBe(400);
    }
  });

  it('an absolute-form target reaches the replica with its origin-form path', async () => {
    const { status, line } = await seenBy('http://127.0.0.1/function/wire/a%2Fb?x=1');
    expect(status).toBe(200);
    expect(line).toBe('GET /a%2Fb?x=1 HTTP/1.1');
  });
});

describe('climbsAboveBase', () => {
  const rows: Array<[string, boolean]> = [
    ['', false],
    ['/', false],
    ['/a/..', false],
    ['/a/../..', true],
    ['/..', true],
    ['/%2E%2E', true],
    ['/a/%2e%2E/%2e.', true],
    ['/a//..', false],
    ['//..', true],
    ['/...', false],
    ['/a.b/c..d', false],
  ];
  it.each(rows)('%j climbs: %s', (path, climbs) => {
    expect(climbsAboveBase(path)).toBe(climbs);
  });
});
