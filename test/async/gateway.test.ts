import { afterEach, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { RunningScaler } from '../../src/bootstrap.js';
import { runCli } from '../../src/cli.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { send } from '../support/zero-harness.js';
import { callbackServer, countingFunction } from './support.js';

let running: RunningScaler | undefined;
let closeCb: (() => Promise<void>) | undefined;
afterEach(async () => {
  await running?.close();
  await closeCb?.();
  running = undefined;
  closeCb = undefined;
});

const FAST_RETRY = { ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20' };

/** POSTs `n` async calls (at most 50 at once); returns the call id of each body. */
async function post(url: string, n: number, callback: string, prefix = 'b'): Promise<Map<string, string>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const ids = new Map<string, string>();
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < n) {
      const body = `${prefix}-${next++}`;
      const reply = await send(url, { body, headers: { 'X-Callback-Url': callback }, agent });
      expect(reply.status).toBe(202);
      ids.set(String(reply.headers['x-call-id']), body);
    }
  };
  await Promise.all(Array.from({ length: 50 }, one));
  agent.destroy();
  return ids;
}

describe('POST /async-function', () => {
  it('1,000 calls to a function with concurrency 2 at zero: every callback arrives with its own id and body, no replica ever holds 3', async () => {
    const cb = await callbackServer();
    closeCb = cb.close;
    const f = countingFunction({ DELAY_MS: '2' }, { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '3', 'com.openfaas.scale.concurrency': '2', 'com.openfaas.scale.wake-timeout': '30s' });
    running = await startTestScaler({ fn: f.fn }, FAST_RETRY);
    const ids = await post(`${running.url}/async-function/fn/sub?q=1`, 1000, cb.url);
    expect(ids.size).toBe(1000);
    await eventually(() => cb.got.length >= 1000, 90_000, 100);
    const byId = new Map(cb.got.map((g) => [g.id, g]));
    expect(byId.size).toBe(1000);
    for (const [id, body] of ids) {
      expect(byId.get(id)?.body).toBe(body);
      expect(byId.get(id)?.status).toBe('200');
    }
    expect(Number(cb.got[0]?.duration)).toBeGreaterThan(0);
    expect(f.state().max).toBeLessThanOrEqual(2);
    expect(f.state().calls).toBeGreaterThanOrEqual(1000);
  }, 120_000);

  it('429 twice then 200 is retried and delivered', async () => {
    const cb = await callbackServer();
    closeCb = cb.close;
    const f = countingFunction({ FAIL_FIRST: '2' }, {});
    running = await startTestScaler({ fn: f.fn }, FAST_RETRY);
    const ids = await post(`${running.url}/async-function/fn`, 1, cb.url);
    await eventually(() => cb.got.length >= 1, 20_000);
    expect(cb.got[0]).toMatchObject({ id: [...ids.keys()][0], status: '200', body: 'b-0' });
    expect(f.state().calls).toBe(3);
  }, 30_000);

  it('always 503 ends in the dead-letter list after the configured attempts, and replays from there', async () => {
    const f = countingFunction({ ALWAYS: '503' }, {});
    running = await startTestScaler({ fn: f.fn }, { ...FAST_RETRY, ALERT_SCALER_ASYNC_MAX_ATTEMPTS: '3' });
    const reply = await send(`${running.url}/async-function/fn`, { body: 'x' });
    expect(reply.status).toBe(202);
    const id = String(reply.headers['x-call-id']);
    let dead: Array<{ id: string; attempts: number; reason: string }> = [];
    await eventually(async () => {
      dead = JSON.parse((await send(`${running?.adminUrl}/system/async/dead-letters`)).body.toString()) as typeof dead;
      return dead.length === 1;
    }, 20_000, 100);
    expect(dead[0]).toMatchObject({ id, attempts: 3, reason: 'status 503' });
    expect(f.state().calls).toBe(3);
    // The CLI lists it and replays it.
    let out = '';
    const cli = (argv: string[]) => runCli(argv, { OPENFAAS_URL: running?.adminUrl }, (t) => (out += t), () => undefined);
    expect(await cli(['dead-letters'])).toBe(0);
    expect(out).toMatch(new RegExp(`${id}\\s+fn\\s+3\\s+status 503`));
    expect(await cli(['dead-letters', 'replay', id])).toBe(0);
    await eventually(() => f.state().calls === 6, 20_000);
    expect((await send(`${running.adminUrl}/system/async/dead-letters/nope/replay`, { method: 'POST' })).status).toBe(404);
  }, 40_000);

  it('a function that runs past its request timeout got the call once: never sent again, dead-lettered, its callback a 504', async () => {
    const cb = await callbackServer();
    closeCb = cb.close;
    const f = countingFunction({ DELAY_MS: '1500' }, { 'com.openfaas.request-timeout': '500ms' });
    running = await startTestScaler({ fn: f.fn }, { ...FAST_RETRY, ALERT_SCALER_ASYNC_MAX_ATTEMPTS: '3' });
    const ids = await post(`${running.url}/async-function/fn`, 1, cb.url);
    await eventually(() => cb.got.length >= 1, 20_000);
    expect(cb.got[0]).toMatchObject({ id: [...ids.keys()][0], status: '504' });
    expect(JSON.parse(cb.got[0]?.body ?? '{}')).toMatchObject({ error: { code: 'REQUEST_TIMEOUT' } });
    const dead = JSON.parse((await send(`${running.adminUrl}/system/async/dead-letters`)).body.toString()) as Array<{ attempts: number; reason: string }>;
    expect(dead).toEqual([expect.objectContaining({ attempts: 1, reason: 'REQUEST_TIMEOUT' })]);
    // Time for a second send, had there been one (retry base 20 ms).
    await new Promise((r) => setTimeout(r, 2000));
    expect(f.state().calls).toBe(1);
  }, 30_000);

  it('an unknown function is 404 at once; a body over the limit 413; a callback to the gateway itself 400', async () => {
    const f = countingFunction({}, {});
    running = await startTestScaler({ fn: f.fn }, { ALERT_SCALER_BODY_LIMIT_BYTES: '100' });
    expect((await send(`${running.url}/async-function/nope`, { body: 'x' })).status).toBe(404);
    expect((await send(`${running.url}/async-function/fn`, { body: 'x'.repeat(101) })).status).toBe(413);
    const self = await send(`${running.url}/async-function/fn`, { body: 'x', headers: { 'X-Callback-Url': `${running.adminUrl}/system/scale-function/fn` } });
    expect(self.status).toBe(400);
    expect((await send(`${running.url}/async-function/fn`, { body: 'x', headers: { 'X-Callback-Url': 'file:///etc/passwd' } })).status).toBe(400);
  }, 30_000);
});
