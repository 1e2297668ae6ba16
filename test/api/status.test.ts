import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';

/*
 * What GET /system/functions and GET /system/function/<name> add to the OpenFaaS shapes:
 * replica states, the queue with its waiting requests, and the policy. A slow function with a
 * hard limit of 1 holds one call busy while two more wait.
 */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SLOW = {
  labels: { 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.type': 'queue', 'com.openfaas.scale.max-queue': '3', 'com.openfaas.scale.max': '4' },
  environment: { RESPONSE_DELAY_MS: '1500' },
};

/** One replica, one call at a time, 3 s a call: three async calls stay stored for seconds. */
const HELD = { labels: { 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.max': '1' }, environment: { RESPONSE_DELAY_MS: '3000' } };

let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler({ slow: SLOW, odd: { labels: { 'com.openfaas.scale.type': 'bogus' } }, held: HELD }, { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' });
}, 30_000);
afterAll(async () => {
  await s.close();
});

/** A call to the function (`async-function` for an async one) that resolves with its status (the test awaits them all at the end). */
function invoke(name: string, route = 'function'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.url}/${route}/${name}`, { method: 'POST', agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end('x');
  });
}

describe('function status in the system API', () => {
  it('one function shows its replicas by state, its queue with each waiting request, and its policy, next to the OpenFaaS fields', async () => {
    await eventually(async () => ((await request(s.adminServer).get('/system/function/slow')).body as { availableReplicas: number }).availableReplicas === 1);
    const calls = [invoke('slow'), invoke('slow'), invoke('slow')];
    await eventually(async () => ((await request(s.adminServer).get('/system/function/slow')).body as { queueLength: number }).queueLength === 2, 5000);
    const res = await request(s.adminServer).get('/system/function/slow');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'slow', namespace: 'openfaas-fn', replicas: 1, availableReplicas: 1, queueLength: 2 });
    expect(res.body.labels).toMatchObject({ 'com.openfaas.scale.type': 'queue' });
    expect(res.body.states).toEqual({ starting: 0, free: 0, busy: 1, draining: 0, stopping: 0 });
    expect(res.body.instances).toHaveLength(1);
    expect(res.body.instances[0]).toMatchObject({ state: 'busy', inFlight: 1, served: 0 });
    expect(res.body.instances[0].id).toMatch(/^slow-/);
    expect(res.body.instances[0].createdAt).toMatch(ISO);
    expect(res.body.instances[0].lastRequestAt).toMatch(ISO);
    expect(res.body.queue).toMatchObject({ noReplica: 0, busy: 2 });
    expect(res.body.queue.oldestWaitMs).toBeGreaterThanOrEqual(0);
    expect(res.body.queue.waiting.map((w: { index: number; reason: string }) => [w.index, w.reason])).toEqual([
      [0, 'busy'],
      [1, 'busy'],
    ]);
    expect(res.body.queue.waiting[0].arrivedAt).toMatch(ISO);
    expect(res.body.policy).toEqual({ type: 'queue', settings: { min_replicas: 1, max_replicas: 4, max_queue_size: 3, scale_up_step: 1, max_idle_seconds: 120 }, warnings: [] });

    const list = await request(s.adminServer).get('/system/functions');
    const slow = (list.body as Array<Record<string, unknown>>).find((f) => f['name'] === 'slow');
    expect(slow).toMatchObject({ replicas: 1, availableReplicas: 1, states: { starting: 0, free: 0, busy: 1, draining: 0, stopping: 0 }, queueLength: 2 });
    expect(await Promise.all(calls)).toEqual([200, 200, 200]);

    const after = await request(s.adminServer).get('/system/function/slow');
    expect(after.body.instances[0]).toMatchObject({ state: 'free', inFlight: 0, served: 3 });
    expect(after.body.queue).toEqual({ noReplica: 0, busy: 0, oldestWaitMs: 0, waiting: [] });
  }, 20_000);

  it('one function and the list show its stored async calls (asyncQueueLength) until they are delivered', async () => {
    await eventually(async () => ((await request(s.adminServer).get('/system/function/held')).body as { availableReplicas: number }).availableReplicas === 1);
    const before = await request(s.adminServer).get('/system/function/held');
    expect(before.body.asyncQueueLength).toBe(0);
    expect(await Promise.all([invoke('held', 'async-function'), invoke('held', 'async-function'), invoke('held', 'async-function')])).toEqual([202, 202, 202]);
    // None is acked before its 3 s call ends: all three are stored, one of them in delivery.
    const res = await request(s.adminServer).get('/system/function/held');
    expect(res.body).toMatchObject({ name: 'held', asyncQueueLength: 3 });
    const list = await request(s.adminServer).get('/system/functions');
    const held = (list.body as Array<Record<string, unknown>>).find((f) => f['name'] === 'held');
    expect(held).toMatchObject({ asyncQueueLength: 3 });
    await eventually(async () => ((await request(s.adminServer).get('/system/function/held')).body as { asyncQueueLength: number }).asyncQueueLength === 0, 20_000, 200);
  }, 30_000);

  it('a function whose scale labels do not parse reports its problems instead of a policy', async () => {
    const res = await request(s.adminServer).get('/system/function/odd');
    expect(res.status).toBe(200);
    expect(res.body.policy.type).toBeNull();
    expect(res.body.policy.problems).toHaveLength(1);
    expect(res.body.policy.problems[0]).toMatch(/com\.openfaas\.scale\.type/);
  });
});
