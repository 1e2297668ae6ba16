import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { rawGet, type RawAnswer } from './raw-client.js';

const RAW = join(packageRoot(), 'test', 'gateway', 'fixtures', 'raw-replica.mjs');
const wire = { wire: { command: [process.execPath, RAW], environment: { MODE: 'echo' } } };
const ref = { name: 'wire', namespace: 'openfaas-fn' };

/** Header lines (lower-cased names) in a raw head, in order. */
function headerLines(head: string): Array<[string, string]> {
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as [string, string];
    });
}
const valuesOf = (head: string, name: string) => headerLines(head).filter(([n]) => n === name).map(([, v]) => v);
/** What the replica received (its echo body is the request head). */
const received = (answer: RawAnswer) => answer.body;

const claims = {
  'X-Forwarded-For': '203.0.113.7, 198.51.100.2',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Port': '443',
  Forwarded: 'for=203.0.113.7;proto=https',
  'X-Real-IP': '203.0.113.7',
};

describe('headers through the gateway, no trusted proxy', () => {
  let s: RunningScaler;
  beforeAll(async () => {
    s = await startTestScaler(wire);
    await eventually(async () => (await s.provider.getReplicas(ref)).ready === 1);
  });
  afterAll(async () => {
    await s.close();
  });

  it('headers named in Connection are dropped both ways', async () => {
    const answer = await rawGet(s.port, '/function/wire', { Connection: 'X-Secret', 'X-Secret': 'from client', 'X-Kept': 'yes' });
    expect(answer.status).toBe(200);
    expect(valuesOf(received(answer), 'x-secret')).toEqual([]);
    expect(valuesOf(received(answer), 'x-kept')).toEqual(['yes']);
    // The replica named X-Internal in its own Connection header.
    expect(valuesOf(answer.head, 'x-internal')).toEqual([]);
    expect(valuesOf(answer.head, 'x-visible')).toEqual(['yes']);
  });

  it('X-Forwarded-For gets the peer appended to the existing chain', async () => {
    const answer = await rawGet(s.port, '/function/wire', claims);
    expect(valuesOf(received(answer), 'x-forwarded-for')).toEqual(['203.0.113.7, 198.51.100.2, 127.0.0.1']);
  });

  it('X-Forwarded-Host and -Proto say what the gateway saw; other forwarding claims are dropped', async () => {
    const head = received(await rawGet(s.port, '/function/wire', claims));
    expect(valuesOf(head, 'x-forwarded-host')).toEqual(['gw.test']);
    expect(valuesOf(head, 'x-forwarded-proto')).toEqual(['http']);
    expect(valuesOf(head, 'x-forwarded-port')).toEqual([]);
    expect(valuesOf(head, 'forwarded')).toEqual([]);
    expect(valuesOf(head, 'x-real-ip')).toEqual([]);
  });
});

describe('headers through the gateway, behind a trusted proxy', () => {
  let s: RunningScaler;
  beforeAll(async () => {
    s = await startTestScaler(wire, { ALERT_SCALER_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' });
    await eventually(async () => (await s.provider.getReplicas(ref)).ready === 1);
  });
  afterAll(async () => {
    await s.close();
  });

  it('the trusted peer\'s forwarding claims pass as it set them, and the chain grows by the peer', async () => {
    const head = received(await rawGet(s.port, '/function/wire', claims));
    expect(valuesOf(head, 'x-forwarded-for')).toEqual(['203.0.113.7, 198.51.100.2, 127.0.0.1']);
    expect(valuesOf(head, 'x-forwarded-host')).toEqual(['evil.example']);
    expect(valuesOf(head, 'x-forwarded-proto')).toEqual(['https']);
    expect(valuesOf(head, 'x-forwarded-port')).toEqual(['443']);
    expect(valuesOf(head, 'forwarded')).toEqual(['for=203.0.113.7;proto=https']);
    expect(valuesOf(head, 'x-real-ip')).toEqual(['203.0.113.7']);
  });
});
