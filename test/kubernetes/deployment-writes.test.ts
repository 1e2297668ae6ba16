/** The per-function write queue of the Kubernetes provider against the fake API: merged writes, state that lingers. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { AlertSignals } from '../../src/alerts/signals.js';
import { systemClock } from '../../src/core/clock.js';
import { AppError } from '../../src/errors.js';
import { createKubernetesProviderBundle } from '../../src/providers/kubernetes/index.js';
import { KubernetesAlertStateStore, STATE_ANNOTATION } from '../../src/providers/kubernetes/state-store.js';
import type { FakeApiServer } from './fake-api-server.js';
import { quietLogger, startFake, waitFor } from './helpers.js';

const NS = 'openfaas-fn';
const echo = { name: 'echo', namespace: NS };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const env = await startFake({ readyDelayMs: null });
  cleanups.push(() => env.close());
  env.fake.addDeployment({ name: 'echo', replicas: 1 });
  return { fake: env.fake, ...(await writer(env.kubeconfig)) };
}

/** One gateway's provider and state store on the fake API. */
async function writer(kubeconfig: string) {
  const bundle = createKubernetesProviderBundle({ kubeconfig, logger: quietLogger() });
  await bundle.provider.start();
  cleanups.push(() => bundle.provider.close());
  const store = new KubernetesAlertStateStore({ api: bundle.api, namespaces: [NS], logger: quietLogger(), writes: bundle.provider.writes });
  return { provider: bundle.provider, store };
}

const deploymentWrites = (fake: FakeApiServer, from: number) => fake.requests.slice(from).filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/echo'));
const state = (n: number) => ({ firing: { fp: n }, scaleDownAt: null, steps: {} });
const stored = (fake: FakeApiServer): string | undefined => (fake.deployment('echo')?.metadata.annotations as Record<string, string> | undefined)?.[STATE_ANNOTATION];
const notOwner = (): never => {
  throw new AppError('NOT_OWNER', 'this gateway no longer owns function echo');
};

describe('the Deployment write queue', () => {
  it('changes made while a write is in flight go out as one merged write after it', async () => {
    const { fake, provider, store } = await setup();
    fake.latencyMs = 50;
    const from = fake.requests.length;
    const first = provider.setReplicas(echo, 2);
    await waitFor(() => deploymentWrites(fake, from).length === 1, 'the first write sent');
    // Meanwhile: a state save and two more counts for the same function.
    await store.save(echo, state(1), null);
    const rest = [provider.setReplicas(echo, 3), provider.setReplicas(echo, 4)];
    await Promise.all([first, ...rest]);
    const writes = deploymentWrites(fake, from);
    expect(writes).toHaveLength(2);
    expect(writes[1]?.body).toMatchObject({ spec: { replicas: 4 }, metadata: { annotations: { [STATE_ANNOTATION]: JSON.stringify(state(1)) } } });
    expect(fake.replicasOf('echo')).toBe(4);
  });

  it('a state change alone reads back at once and is written by itself after its linger, with no read', async () => {
    const { fake, store } = await setup();
    const from = fake.requests.length;
    await store.save(echo, state(7), null);
    // Staged: the next load sees it before the write.
    expect((await store.load(echo)).state).toEqual(state(7));
    expect(deploymentWrites(fake, from)).toHaveLength(0);
    await waitFor(() => deploymentWrites(fake, from).length === 1, 'the lingering state written', 3000);
    expect(deploymentWrites(fake, from)[0]?.body).toEqual({ metadata: { resourceVersion: expect.stringMatching(/^\d+$/), annotations: { [STATE_ANNOTATION]: JSON.stringify(state(7)) } } });
    expect(fake.apiCalls().slice(from).filter((r) => r.verb === 'get')).toEqual([]);
  });

  it('a save against a state another writer changed (seen through the watch) is PROVIDER_CONFLICT, without writing', async () => {
    const { fake, store } = await setup();
    const loaded = await store.load(echo);
    fake.mutateDeployment('echo', NS, (d) => { (d.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] = JSON.stringify(state(9)); });
    await waitFor(async () => (await store.load(echo)).state.firing['fp'] === 9, 'the watch to show the other state');
    const from = fake.requests.length;
    await expect(store.save(echo, state(1), loaded.version)).rejects.toMatchObject({ code: 'PROVIDER_CONFLICT' });
    await new Promise((r) => setTimeout(r, 1200));
    expect(deploymentWrites(fake, from)).toHaveLength(0);
  });

  it('a fence that refuses (an owner that lost its lease) stops the write before it is sent', async () => {
    const { fake, provider } = await setup();
    const from = fake.requests.length;
    await expect(provider.setReplicas(echo, 3, { fence: notOwner })).rejects.toMatchObject({ code: 'NOT_OWNER' });
    expect(deploymentWrites(fake, from)).toHaveLength(0);
    await provider.setReplicas(echo, 3, { fence: () => undefined });
    expect(fake.replicasOf('echo')).toBe(3);
  });

  it('a write that met a 409 is not sent again once its fence refuses: the new owner\'s count stands', async () => {
    const { fake, provider } = await setup();
    let owner = true;
    const from = fake.requests.length;
    fake.onRequest = (r) => {
      if (r.method !== 'PATCH' || !r.path.endsWith('/deployments/echo') || deploymentWrites(fake, from).length !== 1) return;
      // While the first write is on the wire this gateway loses the bucket and the new owner writes 2 first: the write meets a 409.
      owner = false;
      fake.mutateDeployment('echo', NS, (d) => {
        (d['spec'] as { replicas: number }).replicas = 2;
      });
    };
    const fence = () => {
      if (!owner) notOwner();
    };
    await expect(provider.setReplicas(echo, 5, { fence })).rejects.toMatchObject({ code: 'NOT_OWNER' });
    fake.onRequest = undefined;
    expect(deploymentWrites(fake, from)).toHaveLength(1);
    expect(fake.replicasOf('echo')).toBe(2);
  });

  it('a refused count leaves the rest of its write: the state staged with it, another count', async () => {
    const { fake, provider, store } = await setup();
    fake.latencyMs = 50;
    const from = fake.requests.length;
    const first = provider.setReplicas(echo, 2);
    await waitFor(() => deploymentWrites(fake, from).length === 1, 'the first write sent');
    // Merged behind it: a state, a count this gateway may no longer write, then a count anyone may (a wake).
    await store.save(echo, state(3), null);
    const fenced = provider.setReplicas(echo, 5, { fence: notOwner });
    const unfenced = provider.setReplicas(echo, 4);
    await first;
    await expect(fenced).rejects.toMatchObject({ code: 'NOT_OWNER' });
    await unfenced;
    const writes = deploymentWrites(fake, from);
    expect(writes).toHaveLength(2);
    expect(writes[1]?.body).toMatchObject({ spec: { replicas: 4 }, metadata: { annotations: { [STATE_ANNOTATION]: JSON.stringify(state(3)) } } });
    expect(fake.replicasOf('echo')).toBe(4);
  });

  it('of two gateways writing the same state and count at one version, the one whose write lost does not count it as its own (PROVIDER_CONFLICT)', async () => {
    const env = await startFake({ readyDelayMs: null });
    cleanups.push(() => env.close());
    env.fake.addDeployment({ name: 'echo', replicas: 1 });
    const [a, b] = [await writer(env.kubeconfig), await writer(env.kubeconfig)];
    // Both decided the same notification in the same millisecond: the very same state and count.
    await Promise.all([a.store.save(echo, state(1), null), b.store.save(echo, state(1), null)]);
    const from = env.fake.requests.length;
    const results = await Promise.allSettled([a.provider.setReplicas(echo, 3), b.provider.setReplicas(echo, 3)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'PROVIDER_CONFLICT' } });
    expect(env.fake.replicasOf('echo')).toBe(3);
    // The loser's 409 was resolved from the watch: no live read.
    expect(env.fake.apiCalls().slice(from).filter((r) => r.verb === 'get')).toEqual([]);
  });

  it('a staged state that someone waits for (persisted) goes at once, is stored when that resolves, and a failed write rejects it', async () => {
    const { fake, store } = await setup();
    const from = fake.requests.length;
    await store.save(echo, state(4), null);
    await store.persisted(echo);
    expect(deploymentWrites(fake, from)).toHaveLength(1);
    expect(stored(fake)).toBe(JSON.stringify(state(4)));
    fake.failNext({ method: 'PATCH', path: /deployments\/echo$/, status: 500 });
    await store.save(echo, state(5), (await store.load(echo)).version);
    await expect(store.persisted(echo)).rejects.toBeInstanceOf(AppError);
    expect(stored(fake)).toBe(JSON.stringify(state(4)));
  });

  it('a hold is stored before the note that acknowledges it resolves; when its write fails, the note fails (the webhook answers 503, Alertmanager sends it again)', async () => {
    const { fake, store } = await setup();
    const signals = new AlertSignals(systemClock, 60_000, store);
    await signals.note(echo, [{ kind: 'hold', fingerprint: 'h1', firing: true, name: 'KeepWarm' }]);
    expect(stored(fake)).toContain('KeepWarm');
    fake.failNext({ method: 'PATCH', path: /deployments\/echo$/, status: 500 });
    await expect(signals.note(echo, [{ kind: 'hold', fingerprint: 'h2', firing: true, name: 'Nightly' }])).rejects.toBeInstanceOf(AppError);
    expect(stored(fake)).not.toContain('Nightly');
  });
});
