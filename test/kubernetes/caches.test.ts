/**
 * The label-selected, paged, lean caches of the Kubernetes provider against the fake API
 * server (through the real client-node over HTTP): what is asked for (selectors, pages), what
 * is never received (unrelated pods), what is kept (lean records), and what listeners hear.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createKubernetesProvider, KubeApi, loadKubeConfig, STATE_ANNOTATION, type KubernetesProvider } from '../../src/providers/kubernetes/index.js';
import { Informer } from '../../src/providers/kubernetes/informer.js';
import { OPT_IN_SELECTORS } from '../../src/providers/kubernetes/opt-in.js';
import { endpointSliceSource, podSource, type PodFacts, type SliceFacts } from '../../src/providers/kubernetes/replicas.js';
import type { FunctionRef, ReplicaState } from '../../src/providers/types.js';
import type { FakeApiServer } from './fake-api-server.js';
import { quietLogger, startFake, waitFor } from './helpers.js';

const NS = 'openfaas-fn';
const INFORMER = { minBackoffMs: 20, maxBackoffMs: 100, watchDeadlineMs: 60_000 };

describe('label-selected, paged, lean Kubernetes caches', () => {
  let fake: FakeApiServer;
  let kubeconfig: string;
  let closeFake: () => Promise<void>;
  let provider: KubernetesProvider;
  const seen: Array<{ ref: FunctionRef; state: ReplicaState }> = [];

  beforeAll(async () => {
    ({ fake, kubeconfig, close: closeFake } = await startFake({ readyDelayMs: null, recordSent: true }));
    for (let i = 0; i < 5; i += 1) fake.addDeployment({ name: `fn-${i}`, labels: { faas_function: `fn-${i}` } });
    fake.addDeployment({
      name: 'plain', labels: { app: 'plain', 'alert-scaler.io/enabled': 'true' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"manifest"}', 'com.openfaas.scale.max': '4' },
    });
    // faas-netes CE: the Service carries no label, so no EndpointSlice of it is watched.
    fake.addDeployment({ name: 'ce', labels: { faas_function: 'ce' }, serviceLabels: {}, port: 8081 });
    fake.addDeployment({ name: 'database', labels: { app: 'database' } });
    fake.addPods(30, { prefix: 'unrelated' });
    provider = createKubernetesProvider({ kubeconfig, logger: quietLogger(), requestTimeoutMs: 2000, minBackoffMs: 20, maxBackoffMs: 100, listPageSize: 2 });
    provider.subscribe((ref, state) => seen.push({ ref, state }));
    await provider.start();
  });

  afterAll(async () => {
    await provider.close();
    await closeFake();
  });

  it('lists and watches every kind through the two opt-in selectors, 2 per page with continue tokens', async () => {
    await waitFor(() => fake.openWatches >= 6, 'six watches');
    for (const resource of ['deployments', 'pods', 'endpointslices']) {
      const lists = fake.apiCalls().filter((r) => r.verb === 'list' && r.resource === resource);
      const selectors = new Set(lists.map((r) => (r.query['labelSelector'] ?? '').replace(',kubernetes.io/service-name', '')));
      expect([resource, [...selectors].sort()]).toEqual([resource, [...OPT_IN_SELECTORS].sort()]);
      expect(lists.every((r) => r.query['limit'] === '2')).toBe(true);
      const watches = fake.apiCalls().filter((r) => r.verb === 'watch' && r.resource === resource);
      expect(watches.every((r) => OPT_IN_SELECTORS.some((s) => (r.query['labelSelector'] ?? '').startsWith(s)))).toBe(true);
    }
    // 6 faas_function Deployments at 2 per page: 3 pages, the later two with a continue token.
    const deploymentPages = fake.apiCalls().filter((r) => r.verb === 'list' && r.resource === 'deployments' && r.query['labelSelector'] === 'faas_function');
    expect(deploymentPages.map((r) => r.query['continue'] !== undefined)).toEqual([false, true, true]);
    expect((await provider.listFunctions()).map((f) => f.ref.name)).toEqual(['ce', 'fn-0', 'fn-1', 'fn-2', 'fn-3', 'fn-4', 'plain']);
  });

  it('never receives an unrelated pod or Deployment: not in a list page, not in a watch event', async () => {
    fake.addPods(10, { prefix: 'later' });
    fake.mutateDeployment('database', NS, (d) => { (d['spec'] as { replicas: number }).replicas = 2; });
    fake.addDeployment({ name: 'fn-late', labels: { faas_function: 'fn-late' } });
    await waitFor(() => provider.listReplicas({ name: 'fn-late', namespace: NS }).length === 1, 'the labelled newcomer');
    const pods = fake.sent.filter((s) => s.startsWith('pods/'));
    expect(pods.filter((s) => /\/(unrelated|later)-\d+$/.test(s) || s.includes('/database-'))).toEqual([]);
    expect(pods.length).toBeGreaterThanOrEqual(8);
    expect(fake.sent.filter((s) => s === `deployments/${NS}/database`)).toEqual([]);
  });

  it('keeps lean records: a Deployment has only the fields and annotations it reads, a pod no labels, no API object', async () => {
    const plain = provider.cached({ name: 'plain', namespace: NS });
    expect(Object.keys(plain ?? {}).sort()).toEqual(['annotations', 'desired', 'labels', 'name', 'namespace', 'port', 'ready', 'resourceVersion', 'uid']);
    expect(Object.getPrototypeOf(plain)).toBe(Object.prototype);
    expect(plain?.annotations).toEqual({ 'com.openfaas.scale.max': '4' });
    const api = new KubeApi(loadKubeConfig(kubeconfig), 2000);
    const pods = new Informer(podSource(api), [NS], () => undefined, quietLogger(), INFORMER);
    const slices = new Informer(endpointSliceSource(api), [NS], () => undefined, quietLogger(), INFORMER);
    await Promise.all([pods.start(), slices.start()]);
    try {
      const pod = pods.all().find((p) => p.owner === 'fn-0') as PodFacts;
      expect(Object.keys(pod).sort()).toEqual(['createdAt', 'finished', 'ip', 'name', 'namespace', 'owner', 'ready', 'resourceVersion', 'terminating']);
      expect(Object.getPrototypeOf(pod)).toBe(Object.prototype);
      expect(pods.all().map((p) => p.owner).sort()).toEqual(['ce', 'fn-0', 'fn-1', 'fn-2', 'fn-3', 'fn-4', 'fn-late', 'plain']);
      const slice = slices.all().find((s) => s.service === 'fn-0') as SliceFacts;
      expect(Object.keys(slice).sort()).toEqual(['endpoints', 'name', 'namespace', 'resourceVersion', 'service']);
      expect(slices.all().some((s) => s.service === 'ce')).toBe(false);
    } finally {
      await Promise.all([pods.stop(), slices.stop()]);
    }
  });

  it('a function whose Service carries no opt-in label (faas-netes CE) is routed to its pod address and the Deployment port', () => {
    const [replica] = provider.listReplicas({ name: 'ce', namespace: NS });
    const [pod] = fake.pods('ce');
    expect(replica?.phase).toBe('ready');
    expect(replica?.address?.href).toBe(`http://${String((pod?.['status'] as { podIP: string }).podIP)}:8081/`);
    // Its unlabelled Service's slice never reached the process.
    expect(fake.sent.filter((s) => s.startsWith(`endpointslices/${NS}/ce-`))).toEqual([]);
  });

  it('tells listeners when the alert-state annotation or a label changes, not when an annotation it does not read does', async () => {
    const fn = { name: 'fn-1', namespace: NS };
    seen.length = 0;
    fake.mutateDeployment('fn-1', NS, (d) => { (d.metadata['annotations'] as Record<string, string>)['unread'] = 'x'; });
    fake.mutateDeployment('fn-1', NS, (d) => { (d.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] = '{"firing":{},"scaleDownAt":5,"steps":{}}'; });
    await waitFor(() => seen.length > 0, 'a notification');
    // One notification, for the state change only; the state's text is kept apart from the policy's annotations (the owner's store reads it from the cache).
    expect(seen.map((s) => s.ref.name)).toEqual(['fn-1']);
    expect(provider.cached(fn)?.alertState).toBe('{"firing":{},"scaleDownAt":5,"steps":{}}');
    fake.mutateDeployment('fn-1', NS, (d) => { (d.metadata['labels'] as Record<string, string>)['com.openfaas.scale.max'] = '9'; });
    await waitFor(() => seen.length > 1, 'a second notification');
    expect(seen[1]?.state.labels['com.openfaas.scale.max']).toBe('9');
    expect((await provider.getReplicas(fn)).labels['com.openfaas.scale.max']).toBe('9');
  });

  it('a Deployment that moves from one selector to the other stays a function; one that drops its label is gone', async () => {
    seen.length = 0;
    fake.mutateDeployment('plain', NS, (d) => { (d.metadata['labels'] as Record<string, string>)['faas_function'] = 'plain'; });
    await waitFor(() => seen.some((s) => s.ref.name === 'plain' && s.state.labels['faas_function'] === 'plain'), 'the move');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.filter((s) => s.ref.name === 'plain').every((s) => s.state.desired === 1)).toBe(true);
    expect((await provider.listFunctions()).some((f) => f.ref.name === 'plain')).toBe(true);
    fake.mutateDeployment('fn-2', NS, (d) => { delete (d.metadata['labels'] as Record<string, string>)['faas_function']; });
    await waitFor(async () => !(await provider.listFunctions()).some((f) => f.ref.name === 'fn-2'), 'fn-2 gone');
    expect(provider.cached({ name: 'fn-2', namespace: NS })).toBeUndefined();
  });
});
