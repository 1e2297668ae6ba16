import { afterEach, describe, expect, it } from '@jest/globals';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { replicasOf, scrape, send } from '../support/zero-harness.js';
import { countingFunction } from './support.js';

let running: RunningScaler | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('the async backlog as a signal', () => {
  it('a queue-kind function (max-queue 5) fed 500 async calls scales up on the backlog and back down when it drains', async () => {
    const f = countingFunction({ DELAY_MS: '50' }, {
      'com.openfaas.scale.type': 'queue',
      'com.openfaas.scale.max-queue': '5',
      'com.openfaas.scale.min': '1',
      'com.openfaas.scale.max': '4',
      'com.openfaas.scale.concurrency': '1',
      'com.openfaas.scale.idle-timeout': '2s',
    });
    // Two calls in delivery at once: at most one waits in the dispatcher's own queue, so only
    // the stored backlog can push the queue over 5.
    running = await startTestScaler({ fn: f.fn }, { ALERT_SCALER_ASYNC_WORKERS: '2', ALERT_SCALER_POLICY_INTERVAL_MS: '200', ALERT_SCALER_ASYNC_RETRY_BASE_MS: '20' });
    // Delivery is at most 2 calls per 50 ms: 500 calls are accepted far faster than they drain
    // (about 12 s; a 100 ms service time only made the wait for the drain twice as long).
    const url = `${running.url}/async-function/fn`;
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < 500) expect((await send(url, { body: `b-${next++}` })).status).toBe(202);
      }),
    );
    expect(await scrape(running, 'gateway_function_async_queue_length', { function_name: 'fn' })).toBeGreaterThan(5);
    let peak = 0;
    await eventually(async () => {
      peak = Math.max(peak, (await replicasOf(running as RunningScaler, 'fn')).replicas);
      return peak >= 3;
    }, 30_000, 100);
    await eventually(() => f.state().calls >= 500, 90_000, 200);
    await eventually(async () => (await replicasOf(running as RunningScaler, 'fn')).replicas === 1, 30_000, 200);
    expect(await scrape(running, 'gateway_function_async_queue_length', { function_name: 'fn' })).toBeUndefined();
  }, 180_000);
});
