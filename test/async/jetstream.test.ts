import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { send } from '../support/zero-harness.js';
import { startNats, type NatsServer } from './nats-server.js';
import { callbackServer, countingFunction } from './support.js';

let nats: NatsServer;
const gateways: RunningScaler[] = [];
beforeAll(async () => {
  nats = await startNats();
}, 20_000);
afterAll(async () => {
  for (const g of gateways) await g.close();
  await nats.stop();
}, 30_000);

describe('the gateway on JetStream', () => {
  it('two gateways on one stream: each of 500 calls accepted by either gateway is delivered once when nothing fails, by both gateways together', async () => {
    const cb = await callbackServer();
    const env = { ALERT_SCALER_ASYNC_NATS_URL: nats.url, ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20' };
    const a = countingFunction({ DELAY_MS: '5' }, { 'com.openfaas.scale.concurrency': '4' });
    const b = countingFunction({ DELAY_MS: '5' }, { 'com.openfaas.scale.concurrency': '4' });
    gateways.push(await startTestScaler({ fn: a.fn }, env), await startTestScaler({ fn: b.fn }, env));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const ids = new Map<string, string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 500) {
          const i = next++;
          const g = gateways[i % 2] as RunningScaler;
          const reply = await send(`${g.url}/async-function/fn`, { body: `b-${i}`, headers: { 'X-Callback-Url': cb.url }, agent });
          expect(reply.status).toBe(202);
          ids.set(String(reply.headers['x-call-id']), `b-${i}`);
        }
      }),
    );
    agent.destroy();
    await eventually(() => cb.got.length >= 500, 60_000, 100);
    // A moment for any duplicate to show.
    await new Promise((r) => setTimeout(r, 1000));
    expect(cb.got.length).toBe(500);
    const byId = new Map(cb.got.map((g) => [g.id, g.body]));
    expect(byId.size).toBe(500);
    for (const [id, body] of ids) expect(byId.get(id)).toBe(body);
    // Replicas behind both gateways did work, and no call reached a replica twice.
    expect(a.state().calls).toBeGreaterThan(0);
    expect(b.state().calls).toBeGreaterThan(0);
    expect(a.state().calls + b.state().calls).toBe(500);
    await cb.close();
  }, 120_000);

  it('1,000 calls to a function with concurrency 2 at zero: every callback arrives with its own id and body, no replica ever holds 3', async () => {
    // Gateways on one stream share its calls: the first test's (another stack) leave first.
    for (const old of gateways.splice(0)) await old.close();
    const cb = await callbackServer();
    const f = countingFunction({ DELAY_MS: '2' }, { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '3', 'com.openfaas.scale.concurrency': '2', 'com.openfaas.scale.wake-timeout': '30s' });
    const g = await startTestScaler({ fn2: f.fn }, { ALERT_SCALER_ASYNC_NATS_URL: nats.url, ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20' });
    gateways.push(g);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const ids = new Map<string, string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < 1000) {
          const body = `c-${next++}`;
          const reply = await send(`${g.url}/async-function/fn2`, { body, headers: { 'X-Callback-Url': cb.url }, agent });
          expect(reply.status).toBe(202);
          ids.set(String(reply.headers['x-call-id']), body);
        }
      }),
    );
    agent.destroy();
    await eventually(() => new Set(cb.got.map((x) => x.id)).size >= 1000, 90_000, 100);
    const byId = new Map(cb.got.map((x) => [x.id, x.body]));
    for (const [id, body] of ids) expect(byId.get(id)).toBe(body);
    expect(f.state().max).toBeLessThanOrEqual(2);
    await cb.close();
  }, 120_000);

  it('429 twice then 200 is retried and delivered; always 503 ends in the dead-letter stream after the configured attempts and replays from there', async () => {
    for (const old of gateways.splice(0)) await old.close();
    const cb = await callbackServer();
    const flaky = countingFunction({ FAIL_FIRST: '2' }, {});
    const broken = countingFunction({ ALWAYS: '503' }, {});
    const g = await startTestScaler({ flaky: flaky.fn, broken: broken.fn }, { ALERT_SCALER_ASYNC_NATS_URL: nats.url, ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20', ALERT_SCALER_ASYNC_MAX_ATTEMPTS: '3' });
    gateways.push(g);
    const ok = await send(`${g.url}/async-function/flaky`, { body: 'f-0', headers: { 'X-Callback-Url': cb.url } });
    expect(ok.status).toBe(202);
    await eventually(() => cb.got.length >= 1, 20_000, 50);
    expect(cb.got[0]).toMatchObject({ id: String(ok.headers['x-call-id']), status: '200', body: 'f-0' });
    expect(flaky.state().calls).toBe(3);

    const bad = await send(`${g.url}/async-function/broken`, { body: 'x' });
    expect(bad.status).toBe(202);
    const id = String(bad.headers['x-call-id']);
    let dead: Array<{ id: string; attempts: number; reason: string }> = [];
    await eventually(async () => {
      dead = JSON.parse((await send(`${g.adminUrl}/system/async/dead-letters`)).body.toString()) as typeof dead;
      return dead.some((d) => d.id === id);
    }, 20_000, 100);
    expect(dead.find((d) => d.id === id)).toMatchObject({ id, attempts: 3, reason: 'status 503' });
    expect(broken.state().calls).toBe(3);
    expect((await send(`${g.adminUrl}/system/async/dead-letters/${id}/replay`, { method: 'POST' })).status).toBe(202);
    await eventually(() => broken.state().calls === 6, 20_000, 50);
    await cb.close();
  }, 60_000);
});
