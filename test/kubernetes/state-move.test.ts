/**
 * State that survives a move, on the Kubernetes provider (issue 18, acceptance point 2): two
 * scaler instances on the fake API server sharing the functions through bucket Leases; the
 * owner of a function is stopped and the other takes its buckets. The pending alert
 * scale-down and a hold the new owner never received come from the alert state annotation
 * on the Deployment.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import request from 'supertest';
import { startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { silentLogger } from '../../src/log/logger.js';
import { STATE_ANNOTATION } from '../../src/providers/kubernetes/state-store.js';
import { kubernetesConfig, startFake, waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const WINDOW_MS = 5_000;

async function scaler(kubeconfig: string): Promise<RunningScaler> {
  const config = kubernetesConfig(kubeconfig, { ALERT_SCALER_LEASE_DURATION_SECONDS: '2', ALERT_SCALER_KUBERNETES_ROUTING: 'service' });
  const running = await startScaler(config, { logger: silentLogger(), registry: new Registry() });
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await running.close();
  });
  const close = running.close.bind(running);
  return { ...running, close: async () => ((closed = true), close()) };
}

const alert = (fn: string, status: 'firing' | 'resolved', fingerprint: string, labels: Record<string, string> = {}) => ({
  status,
  labels: { alertname: 'Load', function_name: fn, ...labels },
  annotations: {},
  startsAt: '2026-11-23T19:07:12.537Z',
  fingerprint,
});
const notify = (to: RunningScaler, alerts: unknown[]) => request(to.adminServer).post('/system/alert').send({ version: '4', status: 'firing', alerts });

type Owner = { owner: string | null; ownedHere: boolean };
const ownerAt = async (s: RunningScaler, fn: string): Promise<Owner> => (await request(s.adminServer).get(`/system/function/${fn}`)).body as Owner;

describe('the owner stopped', () => {
  it('the new owner ends the pending scale-down at its stored time, and a hold it never received still holds', async () => {
    const { fake, kubeconfig, close } = await startFake({ readyDelayMs: 20 });
    cleanups.push(close);
    fake.ensureNamespace('openfaas');
    const labels = { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.factor': '20', 'com.openfaas.scale.down.window': `${WINDOW_MS / 1000}s` };
    fake.addDeployment({ name: 'plain', replicas: 1, labels: { faas_function: 'plain', ...labels } });
    fake.addDeployment({ name: 'held', replicas: 1, labels: { faas_function: 'held', ...labels } });
    const gateways = [await scaler(kubeconfig), await scaler(kubeconfig)];
    // Both agree on one owner of each function; the owner of `plain` is the one killed.
    await waitFor(async () => {
      for (const fn of ['plain', 'held']) {
        const seen = await Promise.all(gateways.map((g) => ownerAt(g, fn)));
        if (seen[0]?.owner === null || seen[0]?.owner !== seen[1]?.owner || seen.filter((o) => o.ownedHere).length !== 1) return false;
      }
      return true;
    }, 'both gateways to agree on the owners', 10_000);
    const ownerIndex = (await ownerAt(gateways[0] as RunningScaler, 'plain')).ownedHere ? 0 : 1;
    const owner = gateways[ownerIndex] as RunningScaler;
    const other = gateways[1 - ownerIndex] as RunningScaler;

    // Everything is sent to the owner of `plain`: the steps, a hold for `held`, the resolves.
    expect((await notify(owner, [alert('plain', 'firing', 'p1'), alert('held', 'firing', 'h1')])).status).toBe(200);
    expect((await notify(owner, [alert('held', 'firing', 'k1', { alertname: 'KeepWarm', scale_action: 'hold' })])).status).toBe(200);
    expect([fake.replicasOf('plain'), fake.replicasOf('held')]).toEqual([3, 3]);
    expect((await notify(owner, [alert('plain', 'resolved', 'p1'), alert('held', 'resolved', 'h1')])).status).toBe(200);
    const stored = (fn: string) => JSON.parse((fake.deployment(fn)?.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] ?? '{}') as { scaleDownAt: number | null; holds?: object };
    // A state-only save lingers (up to 1 s) for a count write to ride along: wait until it is written.
    await waitFor(() => typeof stored('plain').scaleDownAt === 'number' && stored('held').holds !== undefined, 'the resolve and the hold to be stored', 5_000);
    const due = stored('plain').scaleDownAt ?? 0;
    expect(due).toBeGreaterThan(Date.now());
    expect(stored('held').holds).toEqual({ k1: { name: 'KeepWarm', seen: expect.any(Number) } });

    // The owner goes; the other takes its buckets and arms the scale-downs from the annotations.
    await owner.close();
    await waitFor(() => fake.replicasOf('plain') === 1, 'the new owner to end the window', WINDOW_MS + 4_000);
    expect((await ownerAt(other, 'plain')).ownedHere).toBe(true);
    const down = other.engine.events.query({ function: 'plain' }).find((e) => e.action === 'scale_down');
    expect(down).toMatchObject({ source: 'alert', reason: 'reset-to-min' });
    expect(down?.time ?? 0).toBeGreaterThanOrEqual(due);
    expect(down?.time ?? 0).toBeLessThan(due + 1_500);

    // `held` is held on the survivor by the stored hold, until the hold is resolved (sent to it this time).
    await waitFor(() => other.engine.events.query({ function: 'held' }).some((e) => e.reason === 'hold'), 'the survivor to hold the scale-down of held', 3_000);
    expect(fake.replicasOf('held')).toBe(3);
    expect(other.engine.events.query({ function: 'held' }).find((e) => e.reason === 'hold')?.inputs).toMatchObject({ heldBy: ['KeepWarm'] });
    expect((await notify(other, [alert('held', 'resolved', 'k1', { alertname: 'KeepWarm', scale_action: 'hold' })])).status).toBe(200);
    await waitFor(() => fake.replicasOf('held') === 1, 'the survivor to scale held down once released', 3_000);
  }, 30_000);
});
