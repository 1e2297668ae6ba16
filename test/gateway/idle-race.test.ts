import http from 'node:http';
import { afterEach, expect, it } from '@jest/globals';
import { eventually } from '../support/harness.js';
import { heldCount, replicasOf, scrape, send, sleep, startZeroScaler, type Reply, type ZeroScaler } from '../support/zero-harness.js';

let scaler: ZeroScaler | undefined;
afterEach(async () => {
  await scaler?.close();
  scaler = undefined;
});

// Each idle costs a cold start (~0.5 s here): 400 calls give some thirty idles (RACE_TOTAL for a longer run).
const TOTAL = Number(process.env.RACE_TOTAL ?? 400);
const WORKERS = 4;
const GAP_MS = 12;

it('continuous calls while the idle deadline keeps scaling the function to zero: every call answers 200 with its own body', async () => {
  // zero-duration 1ms: the deadline fires whenever the workers all pause at once, racing the next call.
  scaler = await startZeroScaler({
    racy: { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '1ms', 'com.openfaas.scale.wake-timeout': '10s' } },
  });
  const { running, provider } = scaler;
  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
  const failures: string[] = [];
  let next = 0;

  // Workers leave short random gaps so the function is sometimes idle for a moment.
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      let reply: Reply | undefined;
      try {
        reply = await send(`${running.url}/function/racy`, { body: `race-${i}`, agent, timeoutMs: 15_000 });
      } catch (err) {
        failures.push(`${i}: ${(err as Error).message}`);
      }
      if (reply !== undefined && (reply.status !== 200 || reply.body.toString() !== `race-${i}`)) failures.push(`${i}: ${reply.status} ${reply.body.toString().slice(0, 200)}`);
      await sleep(Math.floor(Math.random() * GAP_MS));
    }
  };

  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: WORKERS }, worker));
  } finally {
    agent.destroy();
  }
  const elapsed = Date.now() - started;
  const idlerEvents = () => running.engine.events.query({ function: 'racy' }).filter((e) => e.source === 'idler');
  const count = (action: string) => idlerEvents().filter((e) => e.action === action).length;
  // After the last call the deadline idles it once more; wait for that to finish.
  await eventually(async () => (await replicasOf(running, 'racy')).replicas === 0 && count('scale_down') === count('scale_down_complete'), 5000);

  expect(failures).toEqual([]);
  const idled = count('scale_down');
  // The race only means something if the idler really won it several times.
  expect(idled).toBeGreaterThanOrEqual(5);
  // Each scale-to-zero is one decision of the change cycle, its replica drained and removed.
  expect(provider.calls.filter((c) => c.replicas === 0).length).toBe(idled);
  expect(count('scale_down_complete')).toBe(idled);
  expect(idlerEvents().filter((e) => e.action === 'scale_down').every((e) => e.reason === 'idle' && e.from === 1 && e.to === 0)).toBe(true);
  const wakes = await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'racy', outcome: 'ready' });
  // Every idle but the last was followed by a wake.
  expect(wakes).toBeGreaterThanOrEqual(idled - 1);
  expect(await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'racy', outcome: 'timeout' })).toBeUndefined();
  expect(await scrape(running, 'gateway_function_invocation_total', { function_name: 'racy', code: '200' })).toBe(TOTAL);
  expect(heldCount(running, 'racy')).toBe(0);
  // Visible in the test output: how hard the race was run.
  process.stderr.write(`idle-race: ${TOTAL} calls in ${elapsed} ms, ${idled} scale-to-zero, ${wakes} wakes\n`);
});
