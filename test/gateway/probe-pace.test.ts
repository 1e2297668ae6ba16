import { afterEach, describe, expect, it } from '@jest/globals';
import { eventually } from '../support/harness.js';
import { fnRef, recorderFunction, send, sleep, startZeroScaler, type ZeroScaler } from '../support/zero-harness.js';

/*
 * The pace of the local provider's readiness probes, with real processes: 1 ms only while
 * calls wait for the function (a held call goes the moment its replica listens), the health
 * interval otherwise (a scale-up nobody waits on is not worth 1,000 connects a second in the
 * first 100 ms of each starting replica). The health interval is 10 s here, longer than the wake timeout, so a
 * replica found by the slow pace alone could not serve the call in time.
 */

const SLOW_PROBES = { ALERT_SCALER_HEALTH_INTERVAL_MS: '10000' };
const LABELS = { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.wake-timeout': '8s' };
// Listens 300 ms after its start: the first probe, at its spawn, finds nothing.
const LATE_LISTENER = { START_DELAY_MS: '300' };

let scaler: ZeroScaler | undefined;
afterEach(async () => {
  await scaler?.close();
  scaler = undefined;
});

describe('readiness probes: fast while calls wait, at the health interval otherwise', () => {
  it('a call held at zero is served although the health interval is 10 s', async () => {
    const { fn, received } = recorderFunction(LATE_LISTENER, LABELS);
    scaler = await startZeroScaler({ fn }, SLOW_PROBES);

    const reply = await send(`${scaler.running.url}/function/fn`, { body: 'from zero', headers: { 'x-request-id': 'held' } });

    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('from zero');
    expect(received()).toEqual(['held']);
  });

  it('a replica nobody waits for stays starting until its next probe; a call that then waits for it is served at once', async () => {
    const { fn, received } = recorderFunction(LATE_LISTENER, LABELS);
    const s = (scaler = await startZeroScaler({ fn }, SLOW_PROBES));
    const scaled = await send(`${s.running.adminUrl}/system/scale-function/fn`, { body: JSON.stringify({ serviceName: 'fn', replicas: 1 }) });
    expect(scaled.status).toBe(202);
    await eventually(() => s.provider.inner.replicasOf(fnRef('fn')).length === 1);

    // It listens after about 0.3 s; the probe that failed at its spawn is followed by the next one only after 10 s.
    await sleep(1500);
    expect(s.provider.inner.replicasOf(fnRef('fn')).map((r) => r.phase)).toEqual(['starting']);

    const reply = await send(`${s.running.url}/function/fn`, { body: 'waits', headers: { 'x-request-id': 'waiting' } });
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('waits');
    expect(received()).toEqual(['waiting']);
    expect(s.provider.inner.replicasOf(fnRef('fn')).map((r) => r.phase)).toEqual(['ready']);
  });
});
