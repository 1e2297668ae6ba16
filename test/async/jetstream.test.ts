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

describe('two gateways on one JetStream stream', () => {
  it('each of 500 calls accepted by either gateway is delivered once when nothing fails, by both gateways together', async () => {
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
});
