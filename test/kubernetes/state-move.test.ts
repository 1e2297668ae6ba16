/**
 * State that survives a move, on the Kubernetes provider (issue 18, acceptance point 2): two
 * scaler instances on the fake API server, the leader decides; the leader is stopped and the
 * other takes over. The pending alert scale-down and a hold the new leader never received
 * come from the alert state annotation on the Deployment.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import request from 'supertest';
import { startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { STATE_ANNOTATION } from '../../src/providers/kubernetes/state-store.js';
import { startFake, waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const WINDOW_MS = 5_000;

async function scaler(kubeconfig: string): Promise<RunningScaler> {
  const config = loadConfig(
    {
      PORT: '0',
      ALERT_SCALER_ADMIN_PORT: '0',
      ALERT_SCALER_HOST: '127.0.0.1',
      ALERT_SCALER_PROVIDER: 'kubernetes',
      KUBECONFIG: kubeconfig,
      ALERT_SCALER_LOG_LEVEL: 'silent',
      ALERT_SCALER_LEASE_DURATION_SECONDS: '2',
      ALERT_SCALER_KUBERNETES_ROUTING: 'service',
    },
    () => '',
  );
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

describe('the leader stopped', () => {
  it('the new leader ends the pending scale-down at its stored time, and a hold it never received still holds', async () => {
    const { fake, kubeconfig, close } = await startFake({ readyDelayMs: 20 });
    cleanups.push(close);
    fake.ensureNamespace('openfaas');
    const labels = { 'com.openfaas.scale.max': '10', 'com.openfaas.scale.factor': '20', 'com.openfaas.scale.down.window': `${WINDOW_MS / 1000}s` };
    fake.addDeployment({ name: 'plain', replicas: 1, labels: { faas_function: 'plain', ...labels } });
    fake.addDeployment({ name: 'held', replicas: 1, labels: { faas_function: 'held', ...labels } });
    const holder = () => (fake.objects('coordination.k8s.io', 'leases', 'openfaas')[0]?.['spec'] as { holderIdentity?: string } | undefined)?.holderIdentity;
    // a starts first and takes the Lease; b follows.
    const a = await scaler(kubeconfig);
    await waitFor(() => holder() !== undefined, 'a to take the Lease');
    const leaderId = holder();
    const b = await scaler(kubeconfig);

    // Everything is sent to a: the steps, a hold for `held`, the resolves.
    expect((await notify(a, [alert('plain', 'firing', 'p1'), alert('held', 'firing', 'h1')])).status).toBe(200);
    expect((await notify(a, [alert('held', 'firing', 'k1', { alertname: 'KeepWarm', scale_action: 'hold' })])).status).toBe(200);
    expect([fake.replicasOf('plain'), fake.replicasOf('held')]).toEqual([3, 3]);
    expect((await notify(a, [alert('plain', 'resolved', 'p1'), alert('held', 'resolved', 'h1')])).status).toBe(200);
    const stored = (fn: string) => JSON.parse((fake.deployment(fn)?.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] ?? '{}') as { scaleDownAt: number | null; holds?: object };
    // A state-only save lingers (up to 1 s) for a count write to ride along: wait until it is written.
    await waitFor(() => stored('plain').scaleDownAt !== undefined && stored('plain').scaleDownAt !== null, 'the resolve to be stored', 3_000);
    const due = stored('plain').scaleDownAt ?? 0;
    expect(due).toBeGreaterThan(Date.now());
    expect(stored('held').holds).toEqual({ k1: { name: 'KeepWarm', seen: expect.any(Number) } });
    expect(holder()).toBe(leaderId);

    // a goes; b takes the Lease and arms the scale-downs from the annotations.
    await a.close();
    await waitFor(() => fake.replicasOf('plain') === 1, 'b to end the window', WINDOW_MS + 4_000);
    const down = b.engine.events.query({ function: 'plain' }).find((e) => e.action === 'scale_down');
    expect(down).toMatchObject({ source: 'alert', reason: 'reset-to-min' });
    expect(down?.time ?? 0).toBeGreaterThanOrEqual(due);
    expect(down?.time ?? 0).toBeLessThan(due + 1_500);

    // `held` is held on b by the stored hold, until the hold is resolved (sent to b this time).
    await waitFor(() => b.engine.events.query({ function: 'held' }).some((e) => e.reason === 'hold'), 'b to hold the scale-down of held', 3_000);
    expect(fake.replicasOf('held')).toBe(3);
    expect(b.engine.events.query({ function: 'held' }).find((e) => e.reason === 'hold')?.inputs).toMatchObject({ heldBy: ['KeepWarm'] });
    expect((await notify(b, [alert('held', 'resolved', 'k1', { alertname: 'KeepWarm', scale_action: 'hold' })])).status).toBe(200);
    await waitFor(() => fake.replicasOf('held') === 1, 'b to scale held down once released', 3_000);
  }, 30_000);
});
