import http from 'node:http';
import { afterEach, expect, it } from '@jest/globals';
import { heldCount, scrape, send, sleep, startZeroScaler, type Reply, type ZeroScaler } from '../support/zero-harness.js';

let scaler: ZeroScaler | undefined;
afterEach(async () => {
  await scaler?.close();
  scaler = undefined;
});

const TOTAL = Number(process.env.RACE_TOTAL ?? 2000);
const WORKERS = 4;

it('continuous calls while the idler keeps scaling the function to zero: every call answers 200 with its own body', async () => {
  scaler = await startZeroScaler(
    { racy: { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '1ms', 'com.openfaas.scale.wake-timeout': '10s' } } },
    { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
  );
  const { running, provider } = scaler;
  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
  const failures: string[] = [];
  let next = 0;
  let done = false;

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
      await sleep(Math.floor(Math.random() * 12));
    }
  };
  let idled = 0;
  const idlerLoop = async () => {
    while (!done) {
      idled += (await running.idler.tick()).length;
      // Often enough to win many races, rarely enough that cold starts do not dominate.
      await sleep(40 + Math.floor(Math.random() * 80));
    }
  };

  const started = Date.now();
  const idling = idlerLoop();
  try {
    await Promise.all(Array.from({ length: WORKERS }, worker));
  } finally {
    done = true;
    await idling;
    agent.destroy();
  }

  expect(failures).toEqual([]);
  // The race only means something if the idler really won it several times.
  expect(idled).toBeGreaterThanOrEqual(5);
  // Each scale-to-zero is one decision of the change cycle, its replica drained and removed.
  expect(provider.calls.filter((c) => c.replicas === 0).length).toBe(idled);
  const idlerEvents = running.engine.events.query({ function: 'racy' }).filter((e) => e.source === 'idler');
  expect(idlerEvents.filter((e) => e.action === 'scale_down').length).toBe(idled);
  expect(idlerEvents.filter((e) => e.action === 'scale_down_complete').length).toBe(idled);
  const wakes = await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'racy', outcome: 'ready' });
  expect(wakes).toBeGreaterThanOrEqual(idled - 1);
  expect(await scrape(running, 'alert_scaler_cold_starts_total', { function_name: 'racy', outcome: 'timeout' })).toBeUndefined();
  expect(await scrape(running, 'gateway_function_invocation_total', { function_name: 'racy', code: '200' })).toBe(TOTAL);
  expect(heldCount(running, 'racy')).toBe(0);
  // Visible in the test output: how hard the race was run.
  process.stderr.write(`idle-race: ${TOTAL} calls in ${Date.now() - started} ms, ${idled} scale-to-zero, ${wakes} wakes\n`);
});
