/**
 * Replicas on Kubernetes: pods joined with their EndpointSlice endpoints (phases, addresses,
 * creation times), pod routing, and removal by pod-deletion-cost, against the fake API server.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createKubernetesProvider, LOWEST_DELETION_COST, type KubernetesProvider, type KubernetesRouting } from '../../src/providers/kubernetes/index.js';
import { sliceFactsOf } from '../../src/providers/kubernetes/replicas.js';
import type { FunctionRef, ReplicaState } from '../../src/providers/types.js';
import type { FakeApiServer, FakeApiServerOptions } from './fake-api-server.js';
import type { Dispatcher } from '../../src/engine/dispatcher.js';
import { dispatcherOver } from '../support/dispatch.js';
import { codeOf, quietLogger, startFake, waitFor } from './helpers.js';

const NS = 'openfaas-fn';
const fn: FunctionRef = { name: 'fn', namespace: NS };
const COST = 'controller.kubernetes.io/pod-deletion-cost';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The fake with Deployment `fn` at `replicas`, the provider over it (started, replicas ready)
 * and a dispatcher routing to its replicas, as the gateway does.
 */
async function setup(replicas: number, options: FakeApiServerOptions = {}, routing: KubernetesRouting = 'pod'): Promise<{ fake: FakeApiServer; provider: KubernetesProvider; states: ReplicaState[]; dispatcher: Dispatcher }> {
  const env = await startFake({ readyDelayMs: 10, ...options });
  cleanups.push(() => env.close());
  env.fake.addDeployment({ name: 'fn', replicas, labels: { faas_function: 'fn' } });
  const provider = createKubernetesProvider({ kubeconfig: env.kubeconfig, logger: quietLogger(), minBackoffMs: 10, maxBackoffMs: 50, routing });
  const states: ReplicaState[] = [];
  provider.subscribe((ref, state) => {
    if (ref.name === 'fn') states.push(state);
  });
  await provider.start();
  cleanups.push(() => provider.close());
  await waitFor(() => provider.listReplicas(fn).filter((r) => r.phase === 'ready').length === replicas, `${replicas} ready replicas`);
  const dispatcher = dispatcherOver(provider);
  cleanups.push(async () => dispatcher.close());
  await dispatcher.track(fn);
  return { fake: env.fake, provider, states, dispatcher };
}

const podIp = (fake: FakeApiServer, name: string): string =>
  ((fake.pods('fn').find((p) => p.metadata.name === name)?.['status'] ?? {}) as { podIP?: string }).podIP ?? '';

describe('Kubernetes replicas from pods and EndpointSlices', () => {
  it('lists each pod as a replica: pod name, endpoint address, ready, created at the pod creationTimestamp', async () => {
    const { fake, provider } = await setup(2);
    const pods = fake.pods('fn');
    expect(provider.listReplicas(fn).map((r) => [r.id, r.address?.href, r.phase, r.createdAt]).sort()).toEqual(
      pods.map((p) => [p.metadata.name, `http://${podIp(fake, p.metadata.name)}:8080/`, 'ready', Date.parse(String(p.metadata['creationTimestamp']))]).sort(),
    );
    expect(provider.listReplicas({ name: 'nope', namespace: NS })).toEqual([]);
  });

  it('a pod whose endpoint is not ready is starting, gets no request and is not counted ready', async () => {
    const { fake, provider, states, dispatcher } = await setup(2);
    const [slow, ok] = fake.pods('fn').map((p) => p.metadata.name);
    fake.setPodReady(slow ?? '', false);
    await waitFor(() => provider.listReplicas(fn).find((r) => r.id === slow)?.phase === 'starting', 'starting');
    expect(states.at(-1)?.ready).toBe(1);
    expect((await provider.getReplicas(fn)).ready).toBe(1);
    for (let i = 0; i < 6; i++) {
      const slot = dispatcher.tryAcquire(fn);
      expect(slot?.url.hostname).toBe(podIp(fake, ok ?? ''));
      slot?.release();
    }
  });

  it('a new pod is starting (no endpoint or not ready yet) until its endpoint turns ready', async () => {
    const { fake, provider } = await setup(1, { readyDelayMs: 300 });
    await provider.setReplicas(fn, 2);
    await waitFor(() => provider.listReplicas(fn).length === 2, 'the new pod');
    expect(provider.listReplicas(fn).map((r) => r.phase).sort()).toEqual(['ready', 'starting']);
    await waitFor(() => provider.listReplicas(fn).every((r) => r.phase === 'ready'), 'both ready');
    expect(fake.pods('fn')).toHaveLength(2);
  });

  it('a pod being terminated is stopping and takes no request', async () => {
    const { fake, provider, dispatcher } = await setup(2, { terminationDelayMs: 400 });
    await provider.setReplicas(fn, 1);
    await waitFor(() => provider.listReplicas(fn).some((r) => r.phase === 'stopping'), 'stopping');
    const stopping = provider.listReplicas(fn).find((r) => r.phase === 'stopping');
    for (let i = 0; i < 4; i++) {
      const slot = dispatcher.tryAcquire(fn);
      expect(slot?.replicaId).not.toBe(stopping?.id);
      expect(slot?.url.href).not.toBe(stopping?.address?.href);
      slot?.release();
    }
    await waitFor(() => provider.listReplicas(fn).length === 1, 'the pod gone', 3000);
    expect(fake.pods('fn')).toHaveLength(1);
  });

  it('pod routing through the dispatcher: each pod address, least in-flight first, round robin among equals', async () => {
    const { fake, dispatcher } = await setup(3);
    const a = dispatcher.tryAcquire(fn);
    const b = dispatcher.tryAcquire(fn);
    const c = dispatcher.tryAcquire(fn);
    expect(new Set([a, b, c].map((u) => u?.url.hostname))).toEqual(new Set(fake.pods('fn').map((p) => podIp(fake, p.metadata.name))));
    b?.release();
    const d = dispatcher.tryAcquire(fn);
    expect(d?.url.href).toBe(b?.url.href);
    for (const u of [a, c, d]) u?.release();
    // All idle: each replica once per round.
    const round = [1, 2, 3].map(() => {
      const u = dispatcher.tryAcquire(fn);
      u?.release();
      return u?.url.href;
    });
    expect(new Set(round).size).toBe(3);
  });

  it('service routing: every replica has the Service URL from the template, so each call goes to the Service', async () => {
    const { provider, dispatcher } = await setup(2, {}, 'service');
    expect(provider.listReplicas(fn).map((r) => r.address?.href)).toEqual(['http://fn.openfaas-fn.svc.cluster.local:8080/', 'http://fn.openfaas-fn.svc.cluster.local:8080/']);
    expect(dispatcher.tryAcquire(fn)?.url.href).toBe('http://fn.openfaas-fn.svc.cluster.local:8080/');
  });

  it('removeReplicas: deletion cost first, then the scale drops by their number, and exactly those pods go', async () => {
    const { fake, provider } = await setup(3);
    const pods = fake.pods('fn').map((p) => p.metadata.name);
    // The newest pod is the one a plain scale-down would remove; ask for the two oldest.
    const victims = [pods[0] ?? '', pods[1] ?? ''];
    const before = fake.requests.length;
    const phases: string[] = [];
    provider.subscribe(() => phases.push(provider.listReplicas(fn).filter((r) => victims.includes(r.id)).map((r) => r.phase).join(',')));
    await provider.removeReplicas(fn, victims);
    const writes = fake.requests.slice(before).filter((r) => r.method !== 'GET');
    expect(writes.map((r) => `${r.verb} ${r.resource}${r.subresource === null ? '' : `/${r.subresource}`} ${r.path.split('/').at(r.subresource === null ? -1 : -2)}`)).toEqual([
      `patch pods ${victims[0]}`, `patch pods ${victims[1]}`, 'patch deployments fn',
    ]);
    expect(writes[0]?.body).toEqual({ metadata: { annotations: { [COST]: LOWEST_DELETION_COST } } });
    expect(LOWEST_DELETION_COST).toBe('-2147483648');
    expect(writes[2]?.body).toMatchObject({ spec: { replicas: 1 }, metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
    expect(phases[0]).toBe('draining,draining');
    expect(fake.pods('fn').map((p) => p.metadata.name)).toEqual([pods[2]]);
    await waitFor(() => provider.listReplicas(fn).map((r) => r.id).join() === pods[2], 'the victims gone from the cache');
  });

  it('a draining replica gets no request', async () => {
    const { fake, provider, dispatcher } = await setup(2, { terminationDelayMs: 5000 });
    const [victim, keep] = fake.pods('fn').map((p) => p.metadata.name);
    fake.onRequest = (r) => {
      // Hold the scale write: the replica stays draining meanwhile.
      if (r.subresource === 'scale' && r.method === 'PUT') fake.latencyMs = 200;
    };
    const removing = provider.removeReplicas(fn, [victim ?? '']);
    await waitFor(() => provider.listReplicas(fn).find((r) => r.id === victim)?.phase === 'draining', 'draining');
    for (let i = 0; i < 4; i++) {
      const slot = dispatcher.tryAcquire(fn);
      expect(slot?.url.hostname).toBe(podIp(fake, keep ?? ''));
      slot?.release();
    }
    await removing;
    fake.clearFaults();
  });

  it('removeReplicas ignores ids that are not replicas and writes nothing for them', async () => {
    const { fake, provider } = await setup(2);
    const writes = (): number => fake.apiCalls().filter((r) => r.method !== 'GET').length;
    const before = writes();
    await provider.removeReplicas(fn, ['no-such-pod']);
    expect(writes()).toBe(before);
    expect(fake.replicasOf('fn')).toBe(2);
  });

  it('a refused deletion-cost patch is PROVIDER_FORBIDDEN; the scale is unchanged and the replica is ready again', async () => {
    const { fake, provider } = await setup(2);
    const [victim] = fake.pods('fn').map((p) => p.metadata.name);
    fake.failNext({ method: 'PATCH', path: '/pods/', status: 403 });
    expect(await codeOf(provider.removeReplicas(fn, [victim ?? '']))).toBe('PROVIDER_FORBIDDEN');
    expect(fake.replicasOf('fn')).toBe(2);
    expect(provider.listReplicas(fn).find((r) => r.id === victim)?.phase).toBe('ready');
  });

  it('after the EndpointSlice watch expires (410), the re-list still delivers readiness changes', async () => {
    const { fake, provider } = await setup(2);
    fake.compact();
    fake.expireWatches();
    const [pod] = fake.pods('fn').map((p) => p.metadata.name);
    fake.setPodReady(pod ?? '', false);
    await waitFor(() => provider.listReplicas(fn).find((r) => r.id === pod)?.phase === 'starting', 'the change after the re-list');
  });
});

describe('EndpointSlice reduction', () => {
  const slice = (ports: Array<{ name?: string; port?: number }>) => sliceFactsOf({
    metadata: { name: 's', namespace: NS, resourceVersion: '1', labels: { 'kubernetes.io/service-name': 'fn' } },
    addressType: 'IPv4',
    ports,
    endpoints: [
      { addresses: ['127.0.0.21'], conditions: {}, targetRef: { kind: 'Pod', name: 'p1' } },
      { addresses: ['10.0.0.2'], conditions: { ready: false, terminating: true } },
    ],
  });

  it('the address port is the one named http, else the first; no port means no address', () => {
    expect(slice([{ name: 'metrics', port: 9100 }, { name: 'http', port: 8081 }]).endpoints[0]?.address?.href).toBe('http://127.0.0.21:8081/');
    expect(slice([{ name: 'web', port: 3000 }, { name: 'metrics', port: 9100 }]).endpoints[0]?.address?.href).toBe('http://127.0.0.21:3000/');
    expect(slice([]).endpoints[0]?.address).toBeNull();
  });

  it('an endpoint without conditions is ready (as the API documents); one without a pod is named by its address', () => {
    expect(slice([{ port: 80 }]).endpoints).toEqual([
      expect.objectContaining({ id: 'p1', ready: true, terminating: false }),
      expect.objectContaining({ id: '10.0.0.2', ready: false, terminating: true }),
    ]);
  });
});
