import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { TestFunction } from '../support/harness.js';
import { eventually } from '../support/harness.js';
import { fnRef, replicasOf, send, startZeroScaler, type ZeroScaler } from '../support/zero-harness.js';

/*
 * The readiness pipe with real processes: a replica that writes `ready` on fd 3 gets its held
 * call without a passing health probe; one that does not is found by the probe as before.
 */

const REPLICA = fileURLToPath(new URL('./fixtures/pipe-ready-replica.mjs', import.meta.url));
// A short wake timeout: a call the pipe does not wake fails in seconds, not at the test timeout.
const LABELS = { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.wake-timeout': '8s' };

function pipeFunction(environment: Record<string, string>): TestFunction {
  return { command: [process.execPath, REPLICA], labels: LABELS, environment };
}

let scaler: ZeroScaler | undefined;
afterEach(async () => {
  await scaler?.close();
  scaler = undefined;
});

/** Scales `fn` to zero and waits until its replica is gone. */
async function scaleToZero(s: ZeroScaler): Promise<void> {
  const scaled = await send(`${s.running.adminUrl}/system/scale-function/fn`, { body: JSON.stringify({ serviceName: 'fn', replicas: 0 }) });
  expect(scaled.status).toBe(202);
  await eventually(async () => (await replicasOf(s.running, 'fn')).replicas === 0 && s.provider.inner.replicasOf(fnRef('fn')).length === 0);
}

describe('the readiness pipe (fd 3, ALERT_SCALER_READY_FD)', () => {
  it('a replica that says ready on its pipe gets the held call although its health probe never passes', async () => {
    scaler = await startZeroScaler({ fn: pipeFunction({ HEALTH_STATUS: '503' }) });

    const reply = await send(`${scaler.running.url}/function/fn`, { body: 'from zero' });

    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('served');
    expect(reply.headers['x-scale-from-zero']).toBeDefined();
    expect(scaler.provider.inner.replicasOf(fnRef('fn')).map((r) => r.readyBy)).toEqual(['pipe']);
  });

  it('once a replica of the function said ready on its pipe, the next one gets the held call before any health probe', async () => {
    scaler = await startZeroScaler({ fn: pipeFunction({ HEALTH_STATUS: '200' }) });
    const first = await send(`${scaler.running.url}/function/fn`, { body: 'first wake' });
    expect(first.status).toBe(200);
    await scaleToZero(scaler);

    const second = await send(`${scaler.running.url}/function/fn`, { body: 'second wake' });

    expect(second.status).toBe(200);
    expect(second.headers['x-scale-from-zero']).toBeDefined();
    // The call is the replica's first request: the probes were held off for the pipe.
    expect(JSON.parse(String(second.headers['x-seen']))).toEqual([]);
    expect(scaler.provider.inner.replicasOf(fnRef('fn')).map((r) => r.readyBy)).toEqual(['pipe']);
  });

  it.each([
    ['closes its pipe without a word', ''],
    ['writes something else than ready', 'starting'],
  ])('a replica that %s is found by the health probe', async (_name, line) => {
    scaler = await startZeroScaler({ fn: pipeFunction({ HEALTH_STATUS: '200', READY_LINE: line }) });

    const reply = await send(`${scaler.running.url}/function/fn`, { body: 'from zero' });

    expect(reply.status).toBe(200);
    expect(JSON.parse(String(reply.headers['x-seen']))).toContain('/_/health');
    expect(scaler.provider.inner.replicasOf(fnRef('fn')).map((r) => r.readyBy)).toEqual(['probe']);
  });
});
