/**
 * deploy/examples/function/ (docs/kubernetes.md): rendered with `kubectl kustomize`, loaded into
 * the fake API server, the Kubernetes provider lists it as a function and its scale labels parse
 * to the policy and request limits the manifest's comments promise.
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadAll } from 'js-yaml';
import { packageRoot } from '../../src/bootstrap.js';
import { createKubernetesProvider, type KubernetesProvider } from '../../src/providers/kubernetes/index.js';
import { parseRequestLimits, parseScalingPolicy } from '../../src/policy/labels.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import type { FakeApiServer } from './fake-api-server.js';
import { quietLogger, startFake } from './helpers.js';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> } };
}

const root = packageRoot();
const render = spawnSync('kubectl', ['kustomize', join(root, 'deploy/examples/function')], {
  env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir() }, encoding: 'utf8', timeout: 15_000,
});
const haveKubectl = render.error === undefined;
if (!haveKubectl && process.env['CI'] !== 'true') {
  process.stderr.write('\n*** kubectl not found: SKIPPING test/kubernetes/example-function.test.ts ***\n\n');
}
const describeKubectl = !haveKubectl && process.env['CI'] !== 'true' ? describe.skip : describe;

describeKubectl('deploy/examples/function', () => {
  let docs: Doc[];
  let fake: FakeApiServer;
  let closeFake: () => Promise<void>;
  let provider: KubernetesProvider;

  const one = (kind: string): Doc => {
    const found = docs.find((d) => d.kind === kind);
    if (found === undefined) throw new Error(`no ${kind} rendered`);
    return found;
  };

  beforeAll(async () => {
    expect(render.status).toBe(0);
    docs = (loadAll(render.stdout) as Array<Doc | null>).filter((d): d is Doc => d !== null);
    const deployment = one('Deployment');
    const spec = deployment.spec as unknown as DeploymentSpec;
    let kubeconfig: string;
    ({ fake, kubeconfig, close: closeFake } = await startFake({ readyDelayMs: null }));
    // Load the rendered Deployment as it is: name, namespace, labels, annotations, replicas, port.
    fake.addDeployment({
      name: deployment.metadata.name,
      namespace: deployment.metadata.namespace ?? 'default',
      replicas: spec.replicas,
      labels: deployment.metadata.labels ?? {},
      annotations: deployment.metadata.annotations ?? {},
      port: spec.template.spec.containers[0]?.ports.find((p) => p.name === 'http')?.containerPort ?? 0,
      // The pods carry the template's labels, the EndpointSlice the Service's (as the EndpointSlice controller copies them).
      podLabels: spec.template.metadata.labels,
      serviceLabels: one('Service').metadata.labels ?? {},
    });
    provider = createKubernetesProvider({ kubeconfig, logger: quietLogger(), requestTimeoutMs: 400, minBackoffMs: 20, maxBackoffMs: 100 });
    await provider.start();
  });

  afterAll(async () => {
    await provider.close();
    await closeFake();
  });

  it('renders a Deployment and a Service in openfaas-fn (the namespace the RBAC grants), no Namespace', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`).sort()).toEqual([
      'Deployment/openfaas-fn/hello',
      'Service/openfaas-fn/hello',
    ]);
  });

  it('the Service selects the pods and serves port 8080 (ALERT_SCALER_FUNCTION_URL_TEMPLATE) from the http port', () => {
    const spec = one('Deployment').spec as unknown as DeploymentSpec;
    const service = one('Service').spec as { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string }> };
    expect(service.selector).toEqual(spec.selector.matchLabels);
    for (const [k, v] of Object.entries(service.selector)) expect(spec.template.metadata.labels[k]).toBe(v);
    expect(service.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    expect(spec.template.spec.containers[0]?.ports.map((p) => [p.name, p.containerPort])).toEqual([['http', 8080]]);
  });

  it('the Kubernetes provider lists it as a function with its labels and annotations', async () => {
    const functions = await provider.listFunctions();
    expect(functions.map((f) => f.ref)).toEqual([{ name: 'hello', namespace: 'openfaas-fn' }]);
    const [hello] = functions;
    expect(hello).toMatchObject({ desired: 1, ready: 1 });
    expect(hello?.labels).toEqual(one('Deployment').metadata.labels);
    expect(hello?.annotations).toEqual(one('Deployment').metadata.annotations);
  });

  it('its pod and its Service\'s EndpointSlice reach the label-selected caches: one ready replica at the slice address', () => {
    const replicas = provider.listReplicas({ name: 'hello', namespace: 'openfaas-fn' });
    expect(replicas.map((r) => [r.phase, r.address?.port])).toEqual([['ready', '8080']]);
    const sent = fake.apiCalls().filter((r) => r.verb === 'list' && (r.resource === 'pods' || r.resource === 'endpointslices'));
    expect(sent.every((r) => (r.query['labelSelector'] ?? '') !== '')).toBe(true);
    expect(fake.sentCount.get('pods')).toBe(1);
    expect(fake.sentCount.get('endpointslices')).toBe(1);
  });

  it('its labels parse to the scaling policy and request limits without problems', async () => {
    const [hello] = await provider.listFunctions();
    if (hello === undefined) throw new Error('hello not listed');
    const policy = parseScalingPolicy(hello.labels, hello.annotations, DEFAULT_POLICY);
    expect(policy).toEqual({ ok: true, policy: expect.objectContaining({ minReplicas: 1, maxReplicas: 5, factorPercent: 20, scaleToZero: true, zeroDurationMs: 600_000 }) });
    const limits = parseRequestLimits(hello.labels, hello.annotations, { concurrency: 0, maxQueued: 0, requestTimeoutMs: 30_000, maxWaitMs: 30_000 });
    expect(limits).toEqual({ ok: true, limits: expect.objectContaining({ concurrency: 4 }) });
  });
});
