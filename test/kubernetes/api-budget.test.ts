/**
 * The API budget of an alert step, end to end: the whole scaler on the Kubernetes provider
 * through the real client-node against the fake API, its request log the evidence.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import request from 'supertest';
import { startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { STATE_ANNOTATION } from '../../src/providers/kubernetes/state-store.js';
import type { FakeApiServer, RecordedRequest } from './fake-api-server.js';
import { startFake, waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A v4 notification for `fn`: firing with a fresh startsAt, or resolved. */
function notification(fn: string, firing: boolean, occurrence: number): Record<string, unknown> {
  const startsAt = new Date(Date.UTC(2026, 0, 1) + occurrence * 1000).toISOString();
  const labels = { alertname: 'APIHighInvocationRate', function_name: fn };
  const alert = { status: firing ? 'firing' : 'resolved', labels, annotations: {}, startsAt, endsAt: firing ? '0001-01-01T00:00:00Z' : new Date(Date.parse(startsAt) + 500).toISOString(), generatorURL: 'http://127.0.0.1:9090/graph', fingerprint: `fp-${fn}` };
  return { version: '4', status: alert.status, receiver: 'scale', groupKey: `{}:{function_name="${fn}"}`, groupLabels: { function_name: fn }, commonLabels: labels, commonAnnotations: {}, externalURL: 'http://127.0.0.1:9093', truncatedAlerts: 0, alerts: [alert] };
}

async function setup(): Promise<{ fake: FakeApiServer; s: RunningScaler }> {
  const env = await startFake({ readyDelayMs: null });
  cleanups.push(() => env.close());
  env.fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '2' } });
  const config = loadConfig({
    PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: env.kubeconfig,
    ALERT_SCALER_LOG_LEVEL: 'silent', ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS: '0', ALERT_SCALER_KUBERNETES_ROUTING: 'service', ALERT_SCALER_FUNCTION_URL_TEMPLATE: 'http://127.0.0.1:9',
  }, () => '');
  const s = await startScaler(config, { logger: silentLogger(), registry: new Registry() });
  cleanups.push(() => s.close());
  // The idler's Lease is renewed in the background: not part of a step.
  await waitFor(() => env.fake.apiCalls().some((c) => c.resource === 'leases'), 'the Lease');
  return { fake: env.fake, s };
}

/** The API calls of a step: everything but the caches' list/watch and the Lease. */
const stepCalls = (fake: FakeApiServer, from: number): RecordedRequest[] =>
  fake.requests.slice(from).filter((c) => c.verb !== null && c.verb !== 'watch' && c.verb !== 'list' && c.resource !== 'leases');
const kinds = (calls: readonly RecordedRequest[]): string[] => calls.map((c) => `${c.verb} ${c.resource}${c.subresource === null ? '' : `/${c.subresource}`}`);
const body = (c: RecordedRequest | undefined): { metadata?: { resourceVersion?: string; annotations?: Record<string, string> }; spec?: { replicas?: number } } =>
  (c?.body ?? {}) as never;

/** Waits until no step call came for 300 ms (the background removal and Event are done). */
async function settled(fake: FakeApiServer, from: number): Promise<void> {
  let seen = -1;
  await waitFor(async () => {
    const now = stepCalls(fake, from).length;
    if (now === seen) return true;
    seen = now;
    await new Promise((r) => setTimeout(r, 300));
    return false;
  }, 'the step to settle', 5000);
}

describe('the API budget of an alert step (Kubernetes provider, fake API)', () => {
  it('a firing step is one merge patch of the Deployment carrying the alert state and the count together, plus the Scaled Event: no GET', async () => {
    const { fake, s } = await setup();
    const from = fake.requests.length;
    const up = await request(s.adminServer).post('/system/alert').send(notification('echo', true, 1));
    expect(up.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 2 });
    await settled(fake, from);
    const calls = stepCalls(fake, from);
    expect(kinds(calls).sort()).toEqual(['create events', 'patch deployments']);
    // Coalesced: the state save and the scale write of the cycle are one write.
    const patch = calls.find((c) => c.resource === 'deployments');
    expect(body(patch).spec?.replicas).toBe(2);
    expect(JSON.parse(body(patch).metadata?.annotations?.[STATE_ANNOTATION] ?? 'null')).toMatchObject({ scaleDownAt: null });
    expect(body(patch).metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(fake.replicasOf('echo')).toBe(2);
  });

  it('a resolved step that scales down is the removed pod\'s deletion cost plus one patch of state and count: no GET, the Event held back', async () => {
    const { fake, s } = await setup();
    await request(s.adminServer).post('/system/alert').send(notification('echo', true, 1));
    await waitFor(() => s.provider.listReplicas({ name: 'echo', namespace: 'openfaas-fn' }).filter((r) => r.phase === 'ready').length === 2, 'two ready replicas');
    await settled(fake, 0);
    const from = fake.requests.length;
    const down = await request(s.adminServer).post('/system/alert').send(notification('echo', false, 1));
    expect(down.body.results[0]).toMatchObject({ from: 2, to: 1 });
    await waitFor(() => fake.replicasOf('echo') === 1, 'the scale-down');
    await settled(fake, from);
    const calls = stepCalls(fake, from);
    expect(kinds(calls).filter((k) => k === 'patch pods')).toHaveLength(1);
    expect(calls).toHaveLength(2);
    const deploymentWrites = calls.filter((c) => c.resource === 'deployments');
    expect(deploymentWrites).toHaveLength(1);
    expect(body(deploymentWrites[0]).spec?.replicas).toBe(1);
    expect(body(deploymentWrites[0]).metadata?.annotations?.[STATE_ANNOTATION]).toBeDefined();
    expect(kinds(calls)).not.toContain('get deployments');
    // The second change within the Event interval is not an Event write of its own.
    expect(kinds(calls)).not.toContain('create events');
  });

  it('a write that meets 409 (someone else wrote the Deployment) is resolved from the watch and written again: no GET', async () => {
    const { fake, s } = await setup();
    let mutated = false;
    fake.onRequest = (r) => {
      if (!mutated && r.method === 'PATCH' && r.path.endsWith('/deployments/echo')) {
        mutated = true;
        fake.mutateDeployment('echo', 'openfaas-fn', (d) => { (d.metadata['annotations'] as Record<string, string>)['team'] = 'a'; });
      }
    };
    const from = fake.requests.length;
    const up = await request(s.adminServer).post('/system/alert').send(notification('echo', true, 1));
    expect(up.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 2 });
    expect(mutated).toBe(true);
    const calls = stepCalls(fake, from);
    expect(kinds(calls).filter((k) => k === 'patch deployments')).toHaveLength(2);
    expect(kinds(calls).filter((k) => k.startsWith('get'))).toEqual([]);
    const annotations = fake.deployment('echo')?.metadata['annotations'] as Record<string, string>;
    expect([fake.replicasOf('echo'), annotations['team'], annotations[STATE_ANNOTATION] !== undefined]).toEqual([2, 'a', true]);
  });
});
