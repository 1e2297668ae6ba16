import { afterEach, describe, expect, it } from '@jest/globals';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { send } from '../support/zero-harness.js';
import { countingFunction } from './support.js';

/*
 * One delivery pool serves every function (ALERT_SCALER_ASYNC_WORKERS); a function takes at
 * most twice its max replicas × concurrency of it (src/async/cap.ts, src/async/fair-ready.ts),
 * so a deep backlog of a slow function does not hold back another function's calls.
 */

let running: RunningScaler | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('async delivery fairness', () => {
  it('a call to another function is delivered while a slow function (max 1, concurrency 1) still has a deep backlog', async () => {
    const one = { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1', 'com.openfaas.scale.concurrency': '1' };
    const slow = countingFunction({ DELAY_MS: '500' }, one);
    const fast = countingFunction({ DELAY_MS: '5' }, one);
    // A pool of 4: without the per-function limit, slow's calls (1 running, 3 waiting for its
    // one slot) fill it and fast's call waits behind all 24 of them (about 11 s); with it, slow
    // holds 2 (1 running, 1 waiting).
    running = await startTestScaler({ slow: slow.fn, fast: fast.fn }, { ALERT_SCALER_ASYNC_WORKERS: '4' });
    for (let i = 0; i < 24; i++) expect((await send(`${running.url}/async-function/slow`, { body: `s-${i}` })).status).toBe(202);
    expect((await send(`${running.url}/async-function/fast`, { body: 'f' })).status).toBe(202);
    await eventually(() => fast.state().calls >= 1, 30_000, 20);
    // Slow serves one call per 500 ms: fast's call went ahead of nearly all of its backlog.
    expect(slow.state().calls).toBeLessThanOrEqual(4);
    await eventually(() => slow.state().calls >= 24, 60_000, 100);
    // Read once slow has served its backlog: its replica records a call only once it has it,
    // which on a loaded machine can be after fast's call was already answered.
    expect(slow.state().max).toBe(1);
  }, 120_000);
});
