/**
 * KubernetesProvider against the fake API server, through the real client-node over HTTP.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { AppError } from '../../src/errors.js';
import { createKubernetesProvider, type KubernetesProvider } from '../../src/providers/kubernetes/index.js';
import type { Dispatcher } from '../../src/engine/dispatcher.js';
import type { FunctionRef, ReplicaState } from '../../src/providers/types.js';
import { dispatcherOver } from '../support/dispatch.js';
import type { FakeApiServer } from './fake-api-server.js';
import { codeOf, quietLogger, startFake, waitFor } from './helpers.js';

const NS = 'openfaas-fn';
const echo: FunctionRef = { name: 'echo', namespace: NS };

describe('KubernetesProvider against the fake API server', () => {
  let fake: FakeApiServer;
  let kubeconfig: string;
  let closeFake: () => Promise<void>;
  let provider: KubernetesProvider;
  /** Routes to the provider's replicas, as the gateway does. */
  let dispatcher: Dispatcher;
  const seen: Array<{ ref: FunctionRef; state: ReplicaState }> = [];

  beforeAll(async () => {
    ({ fake, kubeconfig, close: closeFake } = await startFake({ readyDelayMs: 20 }));
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo', 'com.openfaas.scale.max': '5' }, annotations: { 'com.openfaas.scale.zero': 'true' } });
    fake.addDeployment({ name: 'web', replicas: 2, labels: { app: 'web', 'alert-scaler.io/enabled': 'true' } });
    fake.addDeployment({ name: 'database', replicas: 1, labels: { app: 'database' } });
    fake.addDeployment({ name: 'off', replicas: 1, labels: { app: 'off', 'alert-scaler.io/enabled': 'false' } });
    fake.addDeployment({ name: 'elsewhere', namespace: 'other', replicas: 1 });
    provider = createKubernetesProvider({ kubeconfig, logger: quietLogger(), requestTimeoutMs: 400, minBackoffMs: 20, maxBackoffMs: 100, conflictWaitMs: 100 });
    provider.subscribe((ref, state) => seen.push({ ref, state }));
    await provider.start();
    dispatcher = dispatcherOver(provider);
    await dispatcher.track(echo);
  });

  afterEach(() => fake.clearFaults());

  afterAll(async () => {
    dispatcher.close();
    await provider.close();
    await closeFake();
  });

  const writesTo = (name: string): number =>
    fake.apiCalls().filter((r) => r.method !== 'GET' && r.path.includes(`/deployments/${name}`)).length;

  it('lists only opted-in Deployments of the watched namespaces', async () => {
    const functions = await provider.listFunctions();
    expect(functions.map((f) => f.ref)).toEqual([{ name: 'echo', namespace: NS }, { name: 'web', namespace: NS }]);
    expect(functions[0]).toMatchObject({ desired: 1, ready: 1 });
  });

  it('reports desired, ready, labels and annotations of a function', async () => {
    const state = await provider.getReplicas(echo);
    expect(state).toEqual({
      desired: 1, ready: 1,
      labels: { faas_function: 'echo', 'com.openfaas.scale.max': '5' },
      annotations: { 'com.openfaas.scale.zero': 'true' },
    });
  });

  it('sets replicas with one merge patch of the Deployment at the cached resourceVersion: no read, live or of the scale', async () => {
    const before = fake.requests.length;
    await provider.getReplicas(echo);
    const cachedVersion = provider.cached(echo)?.resourceVersion;
    await provider.setReplicas(echo, 3);
    expect(fake.replicasOf('echo')).toBe(3);
    const calls = fake.requests.slice(before).filter((r) => r.verb !== null && r.verb !== 'watch');
    expect(calls.map((r) => `${r.verb} ${r.resource}${r.subresource === null ? '' : `/${r.subresource}`}`)).toEqual(['patch deployments']);
    const patch = calls.at(-1)?.body as { metadata: { resourceVersion: string }; spec: { replicas: number } };
    expect(patch.spec.replicas).toBe(3);
    expect(patch.metadata.resourceVersion).toBe(cachedVersion);
    expect(calls.at(-1)?.contentType).toBe('application/merge-patch+json');
  });

  it('tells subscribers about the new desired count, then about readiness from the watch', async () => {
    seen.length = 0;
    await provider.setReplicas(echo, 4);
    await waitFor(() => seen.some((s) => s.ref.name === 'echo' && s.state.desired === 4 && s.state.ready === 4), 'ready 4');
    // The controller makes pods ready later: the first notification has the old ready count.
    expect(seen.find((s) => s.state.desired === 4)?.state.ready).toBeLessThan(4);
    // Pod routing (the default): a pod address from the EndpointSlice.
    const slot = dispatcher.tryAcquire(echo);
    slot?.release();
    expect(slot?.url.href).toMatch(/^http:\/\/127\.0\.0\.\d+:8080\/$/);
  });

  it('setting the current count writes nothing', async () => {
    const writes = writesTo('echo');
    await provider.setReplicas(echo, 4);
    expect(writesTo('echo')).toBe(writes);
  });

  /**
   * Waits until the fake's controller has finished with echo (ready = desired) and the cache holds
   * the Deployment's current resourceVersion, so a write that follows cannot meet a 409 from a
   * status update still on its way (CI saw a third PATCH here: 429, 409, 200).
   */
  const settled = (): Promise<void> =>
    waitFor(() => {
      const current = fake.deployment('echo');
      const status = current?.['status'] as { readyReplicas?: number } | undefined;
      return current !== undefined && provider.cached(echo)?.resourceVersion === current.metadata.resourceVersion
        && (status?.readyReplicas ?? 0) === fake.replicasOf('echo');
    }, 'echo to settle in the cache');

  const patches = (): number => fake.apiCalls().filter((r) => r.verb === 'patch' && r.resource === 'deployments' && (r.body as { spec?: unknown }).spec !== undefined).length;
  const gets = (): number => fake.apiCalls().filter((r) => r.verb === 'get').length;

  it('a 409 whose newer version never shows on the watch (an injected one) is retried after the bounded wait and one live read', async () => {
    await settled();
    const [before, read] = [patches(), gets()];
    fake.conflictNextScaleWrites(2);
    await provider.setReplicas(echo, 2);
    expect(fake.replicasOf('echo')).toBe(2);
    expect(patches() - before).toBe(3);
    expect(gets() - read).toBe(2);
  });

  it('a Conflict on every attempt ends as PROVIDER_CONFLICT after 5 attempts, replicas unchanged', async () => {
    const before = patches();
    fake.conflictNextScaleWrites(1000);
    expect(await codeOf(provider.setReplicas(echo, 5))).toBe('PROVIDER_CONFLICT');
    expect(patches() - before).toBe(5);
    expect(fake.replicasOf('echo')).toBe(2);
  });

  it('a change by someone else between the read and the write is a 409 resolved from the watch: no read, the write again at the new version', async () => {
    await waitFor(async () => (await provider.getReplicas(echo)).ready === 2, 'status to settle');
    let mutated = false;
    fake.onRequest = (r) => {
      if (!mutated && r.method === 'PATCH' && r.path.endsWith('/deployments/echo')) {
        mutated = true;
        fake.mutateDeployment('echo', NS, (d) => { (d.metadata['annotations'] as Record<string, string>)['touched'] = 'yes'; });
      }
    };
    const [before, read] = [patches(), gets()];
    await provider.setReplicas(echo, 3);
    fake.onRequest = undefined;
    expect(mutated).toBe(true);
    expect(patches() - before).toBe(2);
    expect(gets() - read).toBe(0);
    expect(fake.replicasOf('echo')).toBe(3);
    expect((fake.deployment('echo')?.metadata['annotations'] as Record<string, string>)['touched']).toBe('yes');
  });

  it('a count someone else set is seen through the watch: setting it back writes it', async () => {
    const shown = fake.replicasOf('echo') ?? 0;
    fake.mutateDeployment('echo', NS, (d) => { (d['spec'] as { replicas: number }).replicas = shown + 1; });
    await waitFor(async () => (await provider.getReplicas(echo)).desired === shown + 1, 'the watch to show the new count');
    await provider.setReplicas(echo, shown);
    expect(fake.replicasOf('echo')).toBe(shown);
  });

  it('a 500 from the API server is PROVIDER_UNAVAILABLE with the original error as cause', async () => {
    fake.failNext({ method: 'PATCH', path: '/deployments/echo', status: 500 });
    const err = await provider.setReplicas(echo, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('PROVIDER_UNAVAILABLE');
    expect((err as AppError).cause).toBeDefined();
    expect(fake.replicasOf('echo')).toBe(3);
  });

  it('a 403 is PROVIDER_FORBIDDEN naming the missing permission', async () => {
    fake.failNext({ method: 'PATCH', path: '/deployments/echo', status: 403 });
    const err = (await provider.setReplicas(echo, 1).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('PROVIDER_FORBIDDEN');
    expect(err.message).toContain('patch deployments in namespace openfaas-fn');
  });

  // A function the cache does not hold (here one that did not opt in) is read live: its errors are translated.
  it('a 401 (credentials rejected) is PROVIDER_FORBIDDEN too', async () => {
    fake.failNext({ method: 'PATCH', path: '/deployments/echo', status: 401 });
    expect(await codeOf(provider.setReplicas(echo, 1))).toBe('PROVIDER_FORBIDDEN');
  });

  it('a 429 is sent again after its Retry-After; still 429 after 3 resends it is PROVIDER_UNAVAILABLE: worth retrying', async () => {
    await settled();
    const sent = (): number => fake.apiCalls().filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/echo')).length;
    let before = sent();
    fake.throttleNext({ method: 'PATCH', path: '/deployments/echo', retryAfterSeconds: 0 });
    await provider.setReplicas(echo, 2);
    expect([sent() - before, fake.replicasOf('echo')]).toEqual([2, 2]);
    before = sent();
    fake.throttleNext({ method: 'PATCH', path: '/deployments/echo', retryAfterSeconds: 0, count: 4 });
    expect(await codeOf(provider.setReplicas(echo, 3))).toBe('PROVIDER_UNAVAILABLE');
    expect([sent() - before, fake.replicasOf('echo')]).toEqual([4, 2]);
  });

  it('a 401 on the live read of a function the cache does not hold is PROVIDER_FORBIDDEN', async () => {
    fake.failNext({ method: 'GET', path: '/deployments/database', status: 401 });
    expect(await codeOf(provider.getReplicas({ name: 'database', namespace: NS }))).toBe('PROVIDER_FORBIDDEN');
  });

  it('a cached function is read from the cache: getReplicas makes no API call', async () => {
    const before = fake.apiCalls().length;
    const state = await provider.getReplicas(echo);
    expect(state.desired).toBe(fake.replicasOf('echo'));
    expect(fake.apiCalls().length).toBe(before);
  });

  it('a missing Deployment is FUNCTION_UNKNOWN', async () => {
    expect(await codeOf(provider.getReplicas({ name: 'nope', namespace: NS }))).toBe('FUNCTION_UNKNOWN');
    expect(await codeOf(provider.setReplicas({ name: 'nope', namespace: NS }, 1))).toBe('FUNCTION_UNKNOWN');
    expect(await codeOf(provider.getReplicas({ name: 'elsewhere', namespace: 'other' }))).toBe('FUNCTION_UNKNOWN');
  });

  it('a Deployment that did not opt in is refused and never written', async () => {
    expect(await codeOf(provider.getReplicas({ name: 'database', namespace: NS }))).toBe('FUNCTION_NOT_ENABLED');
    expect(await codeOf(provider.setReplicas({ name: 'database', namespace: NS }, 5))).toBe('FUNCTION_NOT_ENABLED');
    expect(await codeOf(provider.setReplicas({ name: 'off', namespace: NS }, 5))).toBe('FUNCTION_NOT_ENABLED');
    expect(fake.replicasOf('database')).toBe(1);
    expect(writesTo('database') + writesTo('off')).toBe(0);
    expect(provider.listReplicas({ name: 'database', namespace: NS })).toEqual([]);
  });

  it('a slow API within the timeout still works; beyond it is PROVIDER_UNAVAILABLE', async () => {
    fake.latencyMs = 100;
    await provider.setReplicas(echo, 3);
    expect(fake.replicasOf('echo')).toBe(3);
    fake.latencyMs = 600;
    expect(await codeOf(provider.setReplicas(echo, 2))).toBe('PROVIDER_UNAVAILABLE');
    // Decisions still read the cache meanwhile: no request, no timeout.
    expect((await provider.getReplicas(echo)).desired).toBe(3);
  });

  it('after a watch is closed cleanly (the apiserver\'s timeout) the provider resumes from the last resourceVersion without a list and still sees the change made meanwhile', async () => {
    await waitFor(() => fake.openWatches > 0, 'an open watch');
    const calls = (verb: string): number => fake.apiCalls().filter((r) => r.verb === verb && r.resource !== 'leases').length;
    const [lists, watches] = [calls('list'), calls('watch')];
    const missed = (fake.replicasOf('web') ?? 0) + 1;
    fake.dropWatches(false);
    // Changed while no watch is open: the resumed watch replays it from the history.
    fake.mutateDeployment('web', NS, (d) => { (d['spec'] as { replicas: number }).replicas = missed; });
    await waitFor(async () => (await provider.listFunctions()).some((f) => f.ref.name === 'web' && f.desired === missed), 'the missed change');
    expect(calls('watch')).toBeGreaterThan(watches);
    expect(calls('list')).toBe(lists);
    const resumed = fake.apiCalls().filter((r) => r.verb === 'watch').slice(watches);
    expect(resumed.every((r) => (r.query['resourceVersion'] ?? '') !== '' && r.query['resourceVersion'] !== '0')).toBe(true);
  });

  it('resumes from a BOOKMARK\'s resourceVersion: a watch whose objects did not change carries on from the bookmark, not from its last event', async () => {
    await waitFor(() => fake.openWatches > 0, 'an open watch');
    // Only an object outside the selector changes: the version moves on, the watches see no event.
    for (let i = 2; i < 5; i++) fake.mutateDeployment('database', NS, (d) => { (d['spec'] as { replicas: number }).replicas = i; });
    await new Promise((r) => setTimeout(r, 200));
    const deploymentWatches = () => fake.apiCalls().filter((r) => r.verb === 'watch' && r.resource === 'deployments');
    const before = deploymentWatches();
    const lastEvent = Math.max(...before.map((r) => Number(r.query['resourceVersion'])));
    const bookmark = Number(fake.resourceVersion);
    expect(bookmark).toBeGreaterThan(lastEvent);
    const deploymentLists = () => fake.apiCalls().filter((r) => r.verb === 'list' && r.resource === 'deployments').length;
    const lists = deploymentLists();
    fake.bookmarkWatches();
    // The bookmark travels over loopback; give the client time to read it.
    await new Promise((r) => setTimeout(r, 300));
    fake.dropWatches(false);
    await waitFor(() => deploymentWatches().length >= before.length + 2, 'resumed deployment watches');
    const resumed = deploymentWatches().slice(before.length, before.length + 2).map((r) => Number(r.query['resourceVersion']));
    expect(resumed.every((v) => v >= bookmark)).toBe(true);
    expect(deploymentLists()).toBe(lists);
  });

  it.each([
    ['reset', (f: FakeApiServer) => f.dropWatches(true)],
    ['expired (410)', (f: FakeApiServer) => f.expireWatches()],
  ])('after a watch is %s the provider re-lists and still sees later changes', async (_how, drop) => {
    await waitFor(() => fake.openWatches > 0, 'an open watch');
    const lists = (): number => fake.apiCalls().filter((r) => r.verb === 'list').length;
    const before = lists();
    const missed = (fake.replicasOf('web') ?? 0) + 1;
    drop(fake);
    // Changed while no watch is open: only the re-list can reveal it.
    fake.mutateDeployment('web', NS, (d) => { (d['spec'] as { replicas: number }).replicas = missed; });
    await waitFor(() => lists() > before && fake.openWatches > 0, 're-list and a new watch');
    await waitFor(async () => (await provider.listFunctions()).some((f) => f.ref.name === 'web' && f.desired === missed), 'the missed change');
    seen.length = 0;
    fake.mutateDeployment('web', NS, (d) => { (d['spec'] as { replicas: number }).replicas = missed + 1; });
    await waitFor(() => seen.some((s) => s.ref.name === 'web' && s.state.desired === missed + 1), 'a later change');
  });

  it('the dispatcher has no slot once no pod endpoint is ready, and routes to the one that turns ready again', async () => {
    const tryOnce = (): URL | null => {
      const slot = dispatcher.tryAcquire(echo);
      slot?.release();
      return slot?.url ?? null;
    };
    const pods = fake.pods('echo');
    for (const p of pods) fake.setPodReady(p.metadata.name, false);
    await waitFor(() => tryOnce() === null, 'not ready');
    const [first] = pods;
    if (first === undefined) throw new Error('no pod');
    fake.setPodReady(first.metadata.name, true);
    await waitFor(() => tryOnce() !== null, 'ready again');
    expect(tryOnce()?.hostname).toBe((first['status'] as { podIP: string }).podIP);
    for (const p of pods) fake.setPodReady(p.metadata.name, true);
  });

  it('records a Scaled event on the Deployment, as the HPA does', async () => {
    await provider.recordScaleEvent(echo, 1, 3, 'alert APIHighInvocationRate firing');
    const events = fake.objects('', 'events', NS);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      reason: 'Scaled', type: 'Normal',
      involvedObject: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'echo', namespace: NS },
      source: { component: 'alert-scaler' },
    });
    expect(events[0]?.['message']).toContain('3');
    expect(events[0]?.['message']).toContain('APIHighInvocationRate');
    expect((events[0]?.['involvedObject'] as { uid: string }).uid).toBe(fake.deployment('echo')?.metadata['uid']);
  });
});

describe('KubernetesProvider start-up failures', () => {
  it('cannot list because RBAC forbids it: start() rejects with PROVIDER_FORBIDDEN naming list deployments', async () => {
    const { fake, kubeconfig, close } = await startFake();
    try {
      fake.failNext({ method: 'GET', path: '/deployments', status: 403 });
      const provider = createKubernetesProvider({ kubeconfig, logger: quietLogger() });
      const err = (await provider.start().catch((e: unknown) => e)) as AppError;
      expect(err.code).toBe('PROVIDER_FORBIDDEN');
      expect(err.message).toContain('list deployments in namespace openfaas-fn');
      await provider.close();
    } finally {
      await close();
    }
  });

  it('a watch open past its deadline (a silently dead connection) is replaced by a new watch from the last resourceVersion, not a re-list', async () => {
    const { fake, kubeconfig, close } = await startFake();
    const provider = createKubernetesProvider({ kubeconfig, logger: quietLogger(), watchDeadlineMs: 150, minBackoffMs: 10 });
    try {
      fake.addDeployment({ name: 'fn', replicas: 1 });
      await provider.start();
      const calls = (verb: string) => fake.apiCalls().filter((r) => r.verb === verb && r.resource === 'deployments');
      const lists = calls('list').length;
      // Watches stay open but deliver nothing, as over a half-open TCP connection.
      await waitFor(() => calls('watch').length >= 3, 'two new watches after watch deadlines', 2000);
      expect(calls('list').length).toBe(lists);
      const versions = calls('watch').map((r) => r.query['resourceVersion']);
      expect(new Set(versions).size).toBe(1);
      expect(versions[0]).not.toBe('');
      // A change still arrives on the current watch.
      fake.mutateDeployment('fn', 'openfaas-fn', (d) => { (d['spec'] as { replicas: number }).replicas = 2; });
      await waitFor(async () => (await provider.getReplicas({ name: 'fn', namespace: 'openfaas-fn' })).desired === 2, 'the change', 2000);
    } finally {
      await provider.close();
      await close();
    }
  });

  it('an unreadable kubeconfig is CONFIG_INVALID', () => {
    let code: string | undefined;
    try {
      createKubernetesProvider({ kubeconfig: '/nonexistent/kubeconfig.yaml', logger: quietLogger() });
    } catch (err) {
      code = (err as AppError).code;
    }
    expect(code).toBe('CONFIG_INVALID');
  });

  it('nothing listening: start() rejects with PROVIDER_UNAVAILABLE', async () => {
    const { fake, kubeconfig, close } = await startFake();
    await fake.close();
    try {
      const provider = createKubernetesProvider({ kubeconfig, logger: quietLogger() });
      expect(await codeOf(provider.start())).toBe('PROVIDER_UNAVAILABLE');
      await provider.close();
    } finally {
      await close().catch(() => undefined);
    }
  });
});
