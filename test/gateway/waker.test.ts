import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/errors.js';
import { eventually } from '../support/harness.js';
import { errorCode, fnRef, heldCount, recorderFunction, replicasOf, scrape, send, sleep, startZeroScaler, type Reply, type ZeroScaler } from '../support/zero-harness.js';

const MIN_ZERO = { 'com.openfaas.scale.min': '0' };

let scaler: ZeroScaler | undefined;
afterEach(async () => {
  await scaler?.close();
  scaler = undefined;
});

async function start(...args: Parameters<typeof startZeroScaler>): Promise<ZeroScaler> {
  scaler = await startZeroScaler(...args);
  return scaler;
}

describe('zero-scale wake (the dispatch queue with no replica)', () => {
  it('a function with min 0 starts at zero, answers its first request from zero, then has one replica', async () => {
    const { running, provider } = await start({ fn: { labels: MIN_ZERO } });
    expect(await replicasOf(running, 'fn')).toMatchObject({ replicas: 0, availableReplicas: 0 });
    expect(provider.inner.replicasOf(fnRef('fn'))).toHaveLength(0);

    const reply = await send(`${running.url}/function/fn`, { body: 'hello from zero' });

    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('hello from zero');
    expect(Number(reply.headers['x-scale-from-zero'])).toBeGreaterThanOrEqual(0);
    expect(await replicasOf(running, 'fn')).toMatchObject({ replicas: 1, availableReplicas: 1 });
    // The next request finds a ready replica: not held, no header.
    const warm = await send(`${running.url}/function/fn`, { body: 'warm' });
    expect(warm.status).toBe(200);
    expect(warm.headers['x-scale-from-zero']).toBeUndefined();
  });

  it('1,000 concurrent requests held at zero all succeed with their own bodies after exactly one scale-up, and the wake metrics agree', async () => {
    // The slow start keeps the replica down until every request is held at once (3 s: opening
    // 1,000 connections took over 1.5 s on a loaded 2-core machine, and late ones found it ready).
    const { running, provider } = await start({ fn: { labels: { ...MIN_ZERO, 'com.openfaas.scale.wake-timeout': '20s' }, environment: { START_DELAY_MS: '3000' } } });
    const agent = new http.Agent({ keepAlive: false, maxSockets: 1000 });
    const n = 1000;
    let maxHeld = 0;
    const watch = setInterval(() => (maxHeld = Math.max(maxHeld, heldCount(running, 'fn'))), 5);
    try {
      const replies = await Promise.all(Array.from({ length: n }, (_, i) => send(`${running.url}/function/fn`, { body: `request-${i}`, agent, timeoutMs: 25_000 })));
      const wrong = replies.map((r, i) => ({ i, r })).filter(({ i, r }) => r.status !== 200 || r.body.toString() !== `request-${i}`);
      expect(wrong.map(({ i, r }) => `${i}:${r.status}`)).toEqual([]);
      expect(replies.every((r) => r.headers['x-scale-from-zero'] !== undefined)).toBe(true);
    } finally {
      clearInterval(watch);
      agent.destroy();
    }
    expect(maxHeld).toBe(n);
    expect(provider.scaleUps('fn')).toBe(1);
    expect(provider.calls).toEqual([{ ref: fnRef('fn'), replicas: 1 }]);
    expect(await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'ready' })).toBe(1);
    expect(await scrape(running, 'alert_scaler_cold_start_seconds_count', { function_name: 'fn' })).toBe(1);
    expect(await scrape(running, 'alert_scaler_held_requests', { function_name: 'fn' })).toBe(0);
  });

  it('a 512 KiB POST body held during the wake reaches the replica intact', async () => {
    const { running } = await start({ fn: { labels: MIN_ZERO, environment: { START_DELAY_MS: '300' } } });
    const body = randomBytes(512 * 1024);

    const reply = await send(`${running.url}/function/fn`, { body, headers: { 'content-type': 'application/octet-stream' } });

    expect(reply.status).toBe(200);
    expect(reply.headers['x-scale-from-zero']).toBeDefined();
    expect(reply.body.length).toBe(body.length);
    expect(createHash('sha256').update(reply.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('held requests wait for a replica that takes 2 s to start and then succeed', async () => {
    const { running } = await start({ fn: { labels: { ...MIN_ZERO, 'com.openfaas.scale.wake-timeout': '10s' }, environment: { START_DELAY_MS: '2000' } } });
    const started = Date.now();

    const replies = await Promise.all([0, 1, 2, 3, 4].map((i) => send(`${running.url}/function/fn`, { body: `slow-${i}` })));

    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(replies.map((r) => [r.status, r.body.toString()])).toEqual([0, 1, 2, 3, 4].map((i) => [200, `slow-${i}`]));
    expect(replies.every((r) => Number(r.headers['x-scale-from-zero']) >= 1900)).toBe(true);
  });

  it('past the wake timeout held requests get 504 and none of them is ever forwarded', async () => {
    const recorder = recorderFunction({ START_DELAY_MS: '2000' }, { ...MIN_ZERO, 'com.openfaas.scale.wake-timeout': '1s' });
    const { running } = await start({ fn: recorder.fn });
    const started = Date.now();

    const replies = await Promise.all([0, 1, 2].map((i) => send(`${running.url}/function/fn`, { body: 'early', headers: { 'x-request-id': `early-${i}` } })));

    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(1900);
    for (const reply of replies) {
      expect(reply.status).toBe(504);
      expect(errorCode(reply)).toBe('WAKE_TIMEOUT');
      expect(reply.headers['x-echo-pid']).toBeUndefined();
      // It waited, so it says how long.
      expect(Number(reply.headers['x-scale-from-zero'])).toBeGreaterThanOrEqual(950);
    }
    expect(await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'timeout' })).toBe(1);
    // The wake carried on: the replica becomes ready and serves later requests, and its log
    // shows that the timed-out requests never arrived, neither early nor late.
    await eventually(async () => (await replicasOf(running, 'fn')).availableReplicas === 1, 5000);
    const later = await send(`${running.url}/function/fn`, { body: 'later', headers: { 'x-request-id': 'later' } });
    expect(later.status).toBe(200);
    await sleep(200);
    expect(recorder.received()).toEqual(['later']);
  });

  it('with ALERT_SCALER_MAX_QUEUED=3 the fourth held request gets 503 with Retry-After', async () => {
    const { running } = await start({ fn: { labels: { ...MIN_ZERO, 'com.openfaas.scale.wake-timeout': '10s' }, environment: { START_DELAY_MS: '1000' } } }, { ALERT_SCALER_MAX_QUEUED: '3' });
    const held = [0, 1, 2].map((i) => send(`${running.url}/function/fn`, { body: `held-${i}` }));
    await eventually(() => heldCount(running, 'fn') === 3, 2000, 2);

    const rejected = await send(`${running.url}/function/fn`, { body: 'one too many' });

    expect(rejected.status).toBe(503);
    expect(errorCode(rejected)).toBe('QUEUE_FULL');
    expect(rejected.headers['retry-after']).toBe('1');
    expect((await Promise.all(held)).map((r) => [r.status, r.body.toString()])).toEqual([0, 1, 2].map((i) => [200, `held-${i}`]));
  });

  it('a client that goes away while held leaves the queue and is never forwarded', async () => {
    const recorder = recorderFunction({ START_DELAY_MS: '800' }, MIN_ZERO);
    const { running } = await start({ fn: recorder.fn });
    const req = http.request(`${running.url}/function/fn`, { method: 'POST', agent: false, headers: { 'x-request-id': 'gone', 'content-length': '4' } });
    req.on('error', () => undefined);
    req.end('gone');
    await eventually(() => heldCount(running, 'fn') === 1, 2000, 2);
    expect(await scrape(running, 'alert_scaler_held_requests', { function_name: 'fn' })).toBe(1);

    req.destroy();

    await eventually(() => heldCount(running, 'fn') === 0, 2000, 2);
    expect(await scrape(running, 'alert_scaler_held_requests', { function_name: 'fn' })).toBe(0);
    await eventually(async () => (await replicasOf(running, 'fn')).availableReplicas === 1, 5000);
    const later = await send(`${running.url}/function/fn`, { body: 'later', headers: { 'x-request-id': 'later' } });
    expect(later.status).toBe(200);
    await sleep(200);
    expect(recorder.received()).toEqual(['later']);
    expect(await scrape(running, 'gateway_function_invocation_total', { function_name: 'fn', code: '499' })).toBe(1);
  });

  it('a provider failure during the wake answers 502 to every held request', async () => {
    const { running, provider } = await start({ fn: { labels: MIN_ZERO } });
    provider.failSetReplicas = new AppError('PROVIDER_UNAVAILABLE', 'injected failure');
    provider.setReplicasDelayMs = 300;
    const pending = [0, 1, 2].map((i) => send(`${running.url}/function/fn`, { body: `fail-${i}` }));
    await eventually(() => heldCount(running, 'fn') === 3, 2000, 2);

    const replies: Reply[] = await Promise.all(pending);

    expect(replies.map((r) => [r.status, errorCode(r)])).toEqual([0, 1, 2].map(() => [502, 'WAKE_FAILED']));
    expect(provider.calls).toEqual([{ ref: fnRef('fn'), replicas: 1 }]);
    expect(await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'failed' })).toBe(1);
    expect(await scrape(running, 'alert_scaler_held_requests', { function_name: 'fn' })).toBe(0);
    expect(await replicasOf(running, 'fn')).toMatchObject({ replicas: 0 });
    // The failure is not sticky: once the provider recovers, the next request wakes the function.
    provider.failSetReplicas = undefined;
    provider.setReplicasDelayMs = 0;
    const recovered = await send(`${running.url}/function/fn`, { body: 'recovered' });
    expect([recovered.status, recovered.body.toString()]).toEqual([200, 'recovered']);
  });

  it('a manual scale to 0 while a call is held wakes the function again and the call is answered', async () => {
    // The replica takes 1.5 s to listen, so the call is still held when the scale to 0 lands.
    const { running, provider } = await start({ fn: { labels: { ...MIN_ZERO, 'com.openfaas.scale.wake-timeout': '20s' }, environment: { START_DELAY_MS: '1500' } } });
    const held = send(`${running.url}/function/fn`, { body: 'held across a scale to 0', timeoutMs: 10_000 });
    await eventually(() => heldCount(running, 'fn') === 1 && provider.calls.length === 1, 5000, 5);

    const scaled = await send(`${running.adminUrl}/system/scale-function/fn`, { body: JSON.stringify({ serviceName: 'fn', replicas: 0 }) });
    expect(scaled.status).toBe(202);

    // Answered by a replica of the second wake, well before the 20 s wake timeout.
    const reply = await held;
    expect([reply.status, reply.body.toString()]).toEqual([200, 'held across a scale to 0']);
    expect(provider.calls.map((c) => c.replicas)).toEqual([1, 0, 1]);
    expect(await replicasOf(running, 'fn')).toMatchObject({ replicas: 1, availableReplicas: 1 });
    expect(await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'fn', outcome: 'ready' })).toBe(1);
  });
});
