import type http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { EngineEvent } from '../../src/engine/events.js';
import { eventually } from '../support/harness.js';
import { fnRef, replicasOf, send, sleep, startZeroScaler, type ZeroScaler } from '../support/zero-harness.js';

/*
 * The idler is deadline-driven: each `scale.zero` function has an idle deadline (last call +
 * zero-duration) on the scalers' timer heap that acts by itself. These tests wait for the
 * deadlines rather than calling `idler.tick()`.
 */

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

/** The idler's events (decisions and the replica removals they caused), oldest first. */
function idlerEvents(s: ZeroScaler, action: EngineEvent['action'], since = 0): EngineEvent[] {
  return s.running.engine.events.query({ since }).filter((e) => e.source === 'idler' && e.action === action);
}

/**
 * The end of the last call as the gateway records it (its response closed): this listener is
 * added before the gateway's own, so the time it reads is never later than the gateway's.
 */
function callEnds(s: ZeroScaler): () => number {
  let last = 0;
  s.running.server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.once('close', () => (last = Date.now())));
  return () => last;
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
  it('scales opted-in idle functions to zero (min 1 too, as OpenFaaS Pro) and leaves the opted-out and the recently called ones alone', async () => {
    scaler = await startZeroScaler({
      sleepy: { labels: OPT_IN },
      // min 0 alone opts in (issue 20): zero=false is how a function stays up once woken.
      plain: { labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero': 'false', 'com.openfaas.scale.zero-duration': '200ms' } },
      floor: { labels: { ...OPT_IN, 'com.openfaas.scale.min': '1' } },
      // Called with the others, but its window outlasts the test.
      busy: { labels: { ...OPT_IN, 'com.openfaas.scale.zero-duration': '30s' } },
    });
    const s = scaler;
    const { running, provider } = s;
    // min 1 starts at one replica; never called, it goes to zero 200 ms after the gateway started.
    await eventually(async () => (await replicasOf(running, 'floor')).replicas === 0 && idlerEvents(s, 'scale_down_complete').length === 1, 5000);
    expect(idlerEvents(s, 'scale_down').map((e) => [e.function, e.from, e.to, e.reason])).toEqual([['floor', 1, 0, 'idle']]);

    const since = Date.now();
    const callsBefore = provider.calls.length;
    await Promise.all(['sleepy', 'plain', 'floor', 'busy'].map((name) => wake(s, name)));
    // A wake goes back to max(min, 1).
    expect(running.engine.events.query({ function: 'floor', since }).filter((e) => e.source === 'waker' && e.action === 'scale_up').map((e) => e.to)).toEqual([1]);
    await eventually(() => idlerEvents(s, 'scale_down_complete', since).length === 2, 5000);

    expect(await replicasOf(running, 'sleepy')).toMatchObject({ replicas: 0, availableReplicas: 0 });
    expect((await replicasOf(running, 'floor')).replicas).toBe(0);
    expect((await replicasOf(running, 'plain')).replicas).toBe(1);
    expect((await replicasOf(running, 'busy')).replicas).toBe(1);
    // Each went through the change cycle: one decision, its replica drained and removed.
    const byName = (a: EngineEvent, b: EngineEvent) => a.function.localeCompare(b.function);
    expect(idlerEvents(s, 'scale_down', since).sort(byName).map((e) => [e.function, e.from, e.to, e.reason])).toEqual([
      ['floor', 1, 0, 'idle'],
      ['sleepy', 1, 0, 'idle'],
    ]);
    expect(idlerEvents(s, 'scale_down_complete', since).map((e) => e.function).sort()).toEqual(['floor', 'sleepy']);
    expect(running.engine.events.query().filter((e) => e.source === 'idler' && (e.function === 'plain' || e.function === 'busy'))).toEqual([]);
    const zeroCalls = provider.calls.slice(callsBefore).filter((c) => c.replicas === 0);
    expect(zeroCalls.map((c) => c.ref.name).sort()).toEqual(['floor', 'sleepy']);
    await eventually(() => provider.inner.replicasOf(fnRef('sleepy')).length === 0, 2000);
    // An explicit pass finds nothing more: the deadlines did the work.
    expect(await running.idler.tick()).toEqual([]);
    // The function at zero still answers.
    const again = await send(`${running.url}/function/sleepy`, { body: 'back' });
    expect([again.status, again.body.toString(), again.headers['x-scale-from-zero'] !== undefined]).toEqual([200, 'back', true]);
  });

  it('the idle deadline acts by itself: zero-duration after the last call, not before, and without a tick()', async () => {
    scaler = await startZeroScaler({ nap: { labels: { ...OPT_IN, 'com.openfaas.scale.zero-duration': '300ms' } } });
    const s = scaler;
    const { running } = s;
    const lastEnd = callEnds(s);
    const since = Date.now();
    // Three calls closer together than the zero-duration: only the last one's end counts.
    for (let i = 0; i < 3; i++) {
      await wake(s, 'nap');
      if (i < 2) await sleep(50);
    }
    const end = lastEnd();
    expect(end).toBeGreaterThanOrEqual(since);

    await eventually(() => idlerEvents(s, 'scale_down_complete', since).length === 1, 5000);

    const [down, ...more] = idlerEvents(s, 'scale_down', since);
    expect(more).toEqual([]);
    expect(down).toMatchObject({ function: 'nap', from: 1, to: 0, reason: 'idle', inputs: expect.objectContaining({ zeroDurationMs: 300, inFlight: 0 }) });
    const after = (down?.time ?? 0) - end;
    expect(after).toBeGreaterThanOrEqual(300);
    expect(after).toBeLessThan(2000);
    process.stderr.write(`idle deadline: scale_down ${after} ms after the last call's end (zero-duration 300 ms)\n`);
    expect((await replicasOf(running, 'nap')).replicas).toBe(0);
  });

  it('leaves a function alone while a request is in flight, and idles it once that request is done', async () => {
    scaler = await startZeroScaler({ slow: { labels: { ...OPT_IN, 'com.openfaas.scale.zero-duration': '100ms' }, environment: { RESPONSE_DELAY_MS: '2000' } } });
    const s = scaler;
    const { running } = s;
    const lastEnd = callEnds(s);
    await wake(s, 'slow');
    const since = Date.now();
    const inflight = send(`${running.url}/function/slow`, { body: 'in flight' });
    // The request started more than ten zero-durations ago but has not finished: its deadlines passed and did nothing.
    await sleep(1000);
    expect(idlerEvents(s, 'scale_down', since)).toEqual([]);
    expect((await replicasOf(running, 'slow')).replicas).toBe(1);

    const reply = await inflight;
    const end = lastEnd();
    expect([reply.status, reply.body.toString()]).toEqual([200, 'in flight']);
    await eventually(() => idlerEvents(s, 'scale_down_complete', since).length === 1, 5000);
    const downs = idlerEvents(s, 'scale_down', since);
    expect(downs.map((e) => [e.function, e.from, e.to, e.reason])).toEqual([['slow', 1, 0, 'idle']]);
    // Decided a zero-duration after the call ended, not while it ran.
    expect((downs[0]?.time ?? 0) - end).toBeGreaterThanOrEqual(100);
    expect((await replicasOf(running, 'slow')).replicas).toBe(0);
  });

  it('does nothing when Prometheus is configured but unreachable', async () => {
    const port = await closedPort();
    // The deadline asks, hears `unknown`, and asks again every 300 ms: never idle.
    scaler = await startZeroScaler({ sleepy: { labels: OPT_IN } }, { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '0.3', ALERT_SCALER_PROMETHEUS_URL: `http://127.0.0.1:${port}` });
    const { running, provider } = scaler;
    await wake(scaler, 'sleepy');
    await sleep(1200);

    expect(await replicasOf(running, 'sleepy')).toMatchObject({ replicas: 1, availableReplicas: 1 });
    expect(await running.idler.tick()).toEqual([]);
    expect(provider.calls.filter((c) => c.replicas === 0)).toEqual([]);
    expect(running.engine.events.query().filter((e) => e.source === 'idler')).toEqual([]);
  });
});
