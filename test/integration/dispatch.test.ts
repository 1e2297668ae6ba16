/**
 * The dispatcher in the real gateway with the local provider (issue 9 acceptance): per-replica
 * concurrency asserted inside the replicas, the busy queue, a 5 -> 1 scale-down under steady
 * slow traffic, overflow, the queue deadline and the request timeout.
 */
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import type { LocalProvider } from '../../src/providers/local/index.js';
import type { FunctionRef } from '../../src/providers/types.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';
import { errorCode, scrape, send, sleep, type Reply } from '../support/zero-harness.js';

const COUNTING = join(packageRoot(), 'test', 'integration', 'fixtures', 'counting-replica.mjs');
const NS = 'openfaas-fn';
const ref = (name: string): FunctionRef => ({ name, namespace: NS });
const counting = (labels: Record<string, string>, environment: Record<string, string> = {}): TestFunction => ({
  command: [process.execPath, COUNTING],
  labels,
  environment,
});

const functions: Record<string, TestFunction> = {
  // Concurrency 1 on 3 replicas; the replica itself answers 500 past 1 request at once.
  single: counting({ 'com.openfaas.scale.min': '3', 'com.openfaas.scale.max': '5', 'com.openfaas.scale.concurrency': '1' }, { LIMIT: '1' }),
  // 5 replicas that die at once on SIGTERM: only the drain protects their in-flight calls.
  steady: counting({ 'com.openfaas.scale.min': '5', 'com.openfaas.scale.max': '5' }, { ABRUPT_EXIT: '1' }),
  tight: counting({ 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.max-queued': '1' }),
  deadline: counting({ 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.wake-timeout': '300ms' }),
  slow: counting({ 'com.openfaas.scale.concurrency': '1', 'com.openfaas.request-timeout': '300ms' }),
};

let s: RunningScaler;
beforeAll(async () => {
  s = await startTestScaler(functions, { ALERT_SCALER_DRAIN_GRACE_MS: '2000' });
  const want: Record<string, number> = { single: 3, steady: 5, tight: 1, deadline: 1, slow: 1 };
  for (const [name, n] of Object.entries(want)) {
    await eventually(async () => (await s.provider.getReplicas(ref(name))).ready === n, 20_000);
  }
}, 40_000);
afterAll(async () => {
  await s.close();
});

const call = (name: string, ms: number, body = name, agent?: http.Agent): Promise<Reply> =>
  send(`${s.url}/function/${name}?ms=${ms}`, { body, timeoutMs: 15_000, ...(agent === undefined ? {} : { agent }) });

/** What each replica of `name` says about itself on GET /_/max (straight to the replica). */
async function replicaCounts(name: string): Promise<Array<{ max: number; current: number; served: number }>> {
  const provider = s.provider as LocalProvider;
  return Promise.all(
    provider.replicasOf(ref(name)).map(async (r) => JSON.parse((await send(new URL('/_/max', r.url).href)).body.toString()) as { max: number; current: number; served: number }),
  );
}

describe('the dispatcher in the gateway, with the local provider', () => {
  it('concurrency 1 on 3 replicas: 12 concurrent slow calls never share a replica, 9 queue as busy, all 12 answer 200', async () => {
    let busyMax = 0;
    let metricBusyMax = 0;
    const watch = setInterval(() => {
      busyMax = Math.max(busyMax, s.engine.dispatcher.stats(ref('single')).queued.busy);
    }, 2);
    const replies = Array.from({ length: 12 }, (_, i) => call('single', 400, `single-${i}`));
    await eventually(() => busyMax === 9, 5_000, 2);
    metricBusyMax = (await scrape(s, 'gateway_function_queue_length', { function_name: 'single', reason: 'busy' })) ?? 0;
    const answered = await Promise.all(replies);
    clearInterval(watch);

    expect(answered.map((r) => [r.status, r.body.toString()])).toEqual(Array.from({ length: 12 }, (_, i) => [200, `single-${i}`]));
    expect(answered.every((r) => r.headers['x-concurrent'] === '1')).toBe(true);
    expect(busyMax).toBe(9);
    expect(metricBusyMax).toBeGreaterThan(0);
    const counts = await replicaCounts('single');
    expect(counts.map((c) => c.max)).toEqual([1, 1, 1]);
    expect(counts.reduce((n, c) => n + c.served, 0)).toBe(12);
    expect(s.engine.dispatcher.stats(ref('single')).queued).toEqual({ no_replica: 0, busy: 0 });
  });

  it('scaling 5 -> 1 under steady slow traffic gives no error, and every in-flight call completes', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    const failures: string[] = [];
    let calls = 0;
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const body = `steady-${w}-${i}`;
        try {
          const reply = await call('steady', 250, body, agent);
          calls += 1;
          if (reply.status !== 200 || reply.body.toString() !== body) failures.push(`${body}: ${reply.status} ${reply.body.toString().slice(0, 100)}`);
        } catch (err) {
          failures.push(`${body}: ${(err as Error).message}`);
        }
      }
    };
    const workers = Array.from({ length: 10 }, (_, w) => worker(w));
    try {
      // Every replica busy when the scale-down lands, so every victim has calls to finish.
      await eventually(() => s.engine.dispatcher.replicas(ref('steady')).every((r) => r.inFlight > 0), 5_000, 2);
      const outcome = await s.engine.changer.change(ref('steady'), 'api', () => ({ replicas: 1, reason: 'manual' }));
      expect([outcome.from, outcome.to]).toEqual([5, 1]);
      await outcome.settled;
      await eventually(() => (s.provider as LocalProvider).replicasOf(ref('steady')).length === 1, 10_000);
      await sleep(500);
    } finally {
      stop = true;
      await Promise.all(workers);
      agent.destroy();
    }

    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(20);
    const removals = s.engine.events.query({ function: 'steady' }).filter((e) => e.action === 'scale_down_complete');
    expect(removals.map((e) => e.reason)).toEqual(['drained', 'drained', 'drained', 'drained']);
    expect((await s.provider.getReplicas(ref('steady'))).desired).toBe(1);
  }, 30_000);

  it('past max-queued a call gets 503 QUEUE_FULL with Retry-After, and the others are served', async () => {
    const running = call('tight', 600, 'running');
    await eventually(() => s.engine.dispatcher.replicas(ref('tight'))[0]?.inFlight === 1, 5_000, 2);
    const queued = call('tight', 0, 'queued');
    await eventually(() => s.engine.dispatcher.stats(ref('tight')).queued.busy === 1, 5_000, 2);

    const overflow = await call('tight', 0, 'overflow');

    expect([overflow.status, errorCode(overflow), overflow.headers['retry-after']]).toEqual([503, 'QUEUE_FULL', '1']);
    expect((await Promise.all([running, queued])).map((r) => [r.status, r.body.toString()])).toEqual([[200, 'running'], [200, 'queued']]);
  });

  it('a call that waits for a busy replica past the wake timeout gets 504 QUEUE_TIMEOUT and is never forwarded', async () => {
    const running = call('deadline', 1_500, 'running');
    await eventually(() => s.engine.dispatcher.replicas(ref('deadline'))[0]?.inFlight === 1, 5_000, 2);
    const started = Date.now();

    const late = await call('deadline', 0, 'late');

    const waited = Date.now() - started;
    expect([late.status, errorCode(late)]).toEqual([504, 'QUEUE_TIMEOUT']);
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(1_400);
    expect((await running).status).toBe(200);
    expect((await replicaCounts('deadline'))[0]?.served).toBe(1);
  });

  it('a call past its request timeout gets 504 REQUEST_TIMEOUT, its slot is freed and the next call is served', async () => {
    const started = Date.now();

    const cut = await call('slow', 3_000, 'too slow');

    expect([cut.status, errorCode(cut)]).toEqual([504, 'REQUEST_TIMEOUT']);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(s.engine.dispatcher.replicas(ref('slow'))[0]).toMatchObject({ inFlight: 0, served: 1 });
    // The replica saw the upstream call aborted (nothing in flight there any more).
    await eventually(async () => (await replicaCounts('slow'))[0]?.current === 0, 2_000);
    const next = await call('slow', 0, 'next');
    expect([next.status, next.body.toString()]).toEqual([200, 'next']);
    expect(await scrape(s, 'gateway_function_invocation_total', { function_name: 'slow', code: '504' })).toBe(1);
  });
});
