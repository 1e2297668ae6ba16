import net from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { eventually } from '../support/harness.js';
import { fnRef, replicasOf, send, sleep, startZeroScaler, type ZeroScaler } from '../support/zero-harness.js';

// The idler's own loop must not run during these tests; each test calls tick() itself.
const NO_LOOP = { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' };
const OPT_IN = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '200ms' };

let scaler: ZeroScaler | undefined;
afterEach(async () => {
  await scaler?.close();
  scaler = undefined;
});

async function wake(s: ZeroScaler, name: string): Promise<void> {
  const reply = await send(`${s.running.url}/function/${name}`, { body: 'wake' });
  expect(reply.status).toBe(200);
}

/** A 127.0.0.1 port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('idler', () => {
  it('scales opted-in idle functions to zero (min 1 too, as OpenFaaS Pro) and leaves the unlabelled and the recently called ones alone', async () => {
    scaler = await startZeroScaler(
      {
        sleepy: { labels: OPT_IN },
        plain: { labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '200ms' } },
        floor: { labels: { ...OPT_IN, 'com.openfaas.scale.min': '1' } },
        // Called just before the pass, well inside its window (a margin for a loaded machine).
        busy: { labels: { ...OPT_IN, 'com.openfaas.scale.zero-duration': '3s' } },
      },
      NO_LOOP,
    );
    const { running, provider } = scaler;
    await Promise.all(['sleepy', 'plain', 'busy'].map((name) => wake(scaler as ZeroScaler, name)));
    await eventually(async () => (await replicasOf(running, 'floor')).availableReplicas === 1, 5000);
    await sleep(300);
    await wake(scaler, 'busy');

    const scaled = await running.idler.tick();

    expect(scaled).toEqual([fnRef('sleepy'), fnRef('floor')]);
    expect(await replicasOf(running, 'sleepy')).toMatchObject({ replicas: 0, availableReplicas: 0 });
    expect((await replicasOf(running, 'plain')).replicas).toBe(1);
    expect((await replicasOf(running, 'floor')).replicas).toBe(0);
    expect((await replicasOf(running, 'busy')).replicas).toBe(1);
    // Each went through the change cycle: one decision, its replica drained and removed.
    const idled = running.engine.events.query().filter((e) => e.source === 'idler');
    expect(idled.filter((e) => e.action === 'scale_down').map((e) => [e.function, e.from, e.to, e.reason])).toEqual([
      ['sleepy', 1, 0, 'idle'],
      ['floor', 1, 0, 'idle'],
    ]);
    expect(idled.filter((e) => e.action === 'scale_down_complete').map((e) => e.function)).toEqual(['sleepy', 'floor']);
    expect(provider.calls.filter((c) => c.replicas === 0)).toEqual([
      { ref: fnRef('sleepy'), replicas: 0 },
      { ref: fnRef('floor'), replicas: 0 },
    ]);
    await eventually(() => provider.inner.replicasOf(fnRef('sleepy')).length === 0, 2000);
    // A second pass finds nothing new, and the function at zero still answers.
    expect(await running.idler.tick()).toEqual([]);
    const again = await send(`${running.url}/function/sleepy`, { body: 'back' });
    expect([again.status, again.body.toString(), again.headers['x-scale-from-zero'] !== undefined]).toEqual([200, 'back', true]);
    // A wake goes back to max(min, 1).
    await send(`${running.url}/function/floor`, { body: 'back' });
    expect((await replicasOf(running, 'floor')).replicas).toBe(1);
  });

  it('leaves a function alone while a request is in flight, and idles it once that request is done', async () => {
    scaler = await startZeroScaler({ slow: { labels: { ...OPT_IN, 'com.openfaas.scale.zero-duration': '100ms' }, environment: { RESPONSE_DELAY_MS: '1200' } } }, NO_LOOP);
    const { running } = scaler;
    await wake(scaler, 'slow');
    const inflight = send(`${running.url}/function/slow`, { body: 'in flight' });
    // The request started more than zero-duration ago but has not finished.
    await sleep(400);

    expect(await running.idler.tick()).toEqual([]);

    const reply = await inflight;
    expect([reply.status, reply.body.toString()]).toEqual([200, 'in flight']);
    expect((await replicasOf(running, 'slow')).replicas).toBe(1);
    await sleep(150);
    expect(await running.idler.tick()).toEqual([fnRef('slow')]);
  });

  it('does nothing when Prometheus is configured but unreachable', async () => {
    const port = await closedPort();
    scaler = await startZeroScaler({ sleepy: { labels: OPT_IN } }, { ...NO_LOOP, ALERT_SCALER_PROMETHEUS_URL: `http://127.0.0.1:${port}` });
    const { running, provider } = scaler;
    await wake(scaler, 'sleepy');
    await sleep(300);

    expect(await running.idler.tick()).toEqual([]);

    expect(await replicasOf(running, 'sleepy')).toMatchObject({ replicas: 1, availableReplicas: 1 });
    expect(provider.calls.filter((c) => c.replicas === 0)).toEqual([]);
    expect(running.engine.events.query().filter((e) => e.source === 'idler')).toEqual([]);
  });
});
