/**
 * Checks the fake API server with the real kubectl, so the fake cannot drift from what a
 * real Kubernetes client sends and accepts (discovery, list, scale subresource, watch, the
 * pods and EndpointSlices its controllers derive from a Deployment, and ConfigMaps created
 * as protobuf, edited, applied and deleted).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeApiServer } from './fake-api-server.js';

function findKubectl(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const file = join(dir, 'kubectl');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

const kubectlPath = findKubectl();
if (kubectlPath === null && process.env['CI'] !== 'true') {
  // Loud on purpose: this suite is what keeps the fake honest.
  process.stderr.write('\n*** kubectl not found on PATH: SKIPPING test/kubernetes/kubectl.test.ts (the fake API server is unchecked) ***\n\n');
}
const describeKubectl = kubectlPath === null && process.env['CI'] !== 'true' ? describe.skip : describe;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Splits kubectl's `-o json` watch output (pretty-printed objects back to back) into objects. */
function splitJsonStream(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth += 1;
    } else if (c === '}') {
      depth -= 1;
      if (depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
    }
  }
  return out;
}

describeKubectl('the fake API server, checked with the real kubectl', () => {
  let fake: FakeApiServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    fake = await FakeApiServer.start({ readyDelayMs: 0 });
    dir = await mkdtemp(join(tmpdir(), 'kubectl-fake-'));
    env = { PATH: process.env['PATH'] ?? '', HOME: dir, KUBECONFIG: await fake.writeKubeconfig(dir) };
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo' } });
    fake.addDeployment({ name: 'other', replicas: 2, labels: { app: 'other' } });
  });

  afterAll(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A `kubectl ... --watch` left running: what it wrote so far, a wait (8 s) on it, and its stop. */
  function kubectlWatch(args: string[]) {
    const child = spawn(kubectlPath ?? 'kubectl', ['--cache-dir', join(dir, 'cache'), ...args], { env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    return {
      stdout: (): string => stdout,
      async waitFor(predicate: () => boolean, what: string): Promise<void> {
        const deadline = Date.now() + 8000;
        while (!predicate()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; kubectl wrote: ${stdout}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      },
      async stop(): Promise<void> {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
        await closed;
      },
    };
  }

  /** Runs kubectl asynchronously (the fake lives in this process), bounded in time. */
  function kubectl(args: string[], timeoutMs = 10_000): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(kubectlPath ?? 'kubectl', ['--cache-dir', join(dir, 'cache'), ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  it('kubectl get deploy -o json lists the Deployments of the namespace', async () => {
    const run = await kubectl(['get', 'deploy', '-n', 'openfaas-fn', '-o', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const list = JSON.parse(run.stdout) as { kind: string; items: Array<{ metadata: { name: string }; spec: { replicas: number } }> };
    expect(list.kind).toBe('List');
    expect(list.items.map((d) => [d.metadata.name, d.spec.replicas])).toEqual([['echo', 1], ['other', 2]]);
  });

  it('kubectl discovery uses the legacy endpoints the fake serves', () => {
    const paths = new Set(fake.requests.filter((r) => r.verb === null).map((r) => r.path));
    // No aggregated discovery (the fake answers plain application/json, so kubectl falls back
    // to one request per group version) and no OpenAPI for get/scale/watch.
    expect([...paths].sort()).toEqual(['/api', '/api/v1', '/apis', '/apis/apps/v1', '/apis/coordination.k8s.io/v1', '/apis/discovery.k8s.io/v1', '/apis/events.k8s.io/v1', '/version']);
    const aggregated = fake.requests.find((r) => r.path === '/apis');
    expect(aggregated?.accept).toContain('as=APIGroupDiscoveryList');
  });

  it('kubectl scale goes through the scale subresource and the fake shows 3', async () => {
    const run = await kubectl(['scale', 'deployment/echo', '--replicas=3', '-n', 'openfaas-fn']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('deployment.apps/echo scaled');
    expect(fake.replicasOf('echo')).toBe(3);
    const patch = fake.requests.find((r) => r.method === 'PATCH' && r.subresource === 'scale');
    expect(patch?.contentType).toBe('application/merge-patch+json');
    expect(patch?.body).toEqual({ spec: { replicas: 3 } });
    const get = await kubectl(['get', 'deploy', 'echo', '-n', 'openfaas-fn', '-o', 'json']);
    const d = JSON.parse(get.stdout) as { status: { readyReplicas: number } };
    expect(d.status.readyReplicas).toBe(3);
  });

  it('kubectl scale --current-replicas reads the scale and writes it back with PUT', async () => {
    const run = await kubectl(['scale', 'deployment/echo', '--replicas=4', '--current-replicas=3', '-n', 'openfaas-fn']);
    expect(run.code).toBe(0);
    expect(fake.replicasOf('echo')).toBe(4);
    const put = fake.requests.filter((r) => r.method === 'PUT' && r.subresource === 'scale').at(-1);
    expect(put?.body).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 4 } });
  });

  it('kubectl scale retries the 409 Conflict the fake returns, then succeeds', async () => {
    const before = fake.requests.filter((r) => r.method === 'PATCH' && r.subresource === 'scale').length;
    fake.conflictNextScaleWrites(1);
    const run = await kubectl(['scale', 'deployment/echo', '--replicas=5', '-n', 'openfaas-fn']);
    expect(run.code).toBe(0);
    expect(fake.replicasOf('echo')).toBe(5);
    expect(fake.requests.filter((r) => r.method === 'PATCH' && r.subresource === 'scale').length - before).toBe(2);
  });

  it('kubectl get of a missing Deployment reads the NotFound Status object', async () => {
    const run = await kubectl(['get', 'deploy', 'nope', '-n', 'openfaas-fn', '-o', 'json']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('deployments.apps "nope" not found');
  });

  it('kubectl surfaces an injected 403 as Forbidden', async () => {
    fake.failNext({ method: 'GET', path: '/deployments/echo', status: 403 });
    const run = await kubectl(['get', 'deploy', 'echo', '-n', 'openfaas-fn', '-o', 'json']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('forbidden');
  });

  it('a raw watch resumed from a compacted resourceVersion ends with a 410 Expired ERROR event', async () => {
    fake.compact();
    fake.mutateDeployment('other', 'openfaas-fn', (d) => { d.metadata['annotations'] = { note: 'after compaction' }; });
    const run = await kubectl(['get', '--raw', '/apis/apps/v1/namespaces/openfaas-fn/deployments?watch=true&resourceVersion=1']);
    expect(run.code).toBe(0);
    const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: { kind: string; code: number; reason: string } });
    expect(events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
  });

  it('a raw watch from a recent resourceVersion replays the changes since, as JSON lines', async () => {
    const from = Number(fake.resourceVersion);
    fake.mutateDeployment('other', 'openfaas-fn', (d) => { d.metadata['annotations'] = { note: 'replayed' }; });
    const child = spawn(kubectlPath ?? 'kubectl', ['--cache-dir', join(dir, 'cache'), 'get', '--raw', `/apis/apps/v1/namespaces/openfaas-fn/deployments?watch=true&resourceVersion=${from}`], { env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      const deadline = Date.now() + 8000;
      while (!stdout.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const first = JSON.parse(stdout.split('\n')[0] ?? '') as { type: string; object: { metadata: { name: string; annotations: Record<string, string> } } };
      expect(first.type).toBe('MODIFIED');
      expect(first.object.metadata.annotations).toEqual({ note: 'replayed' });
    } finally {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      await closed;
    }
  });

  it('kubectl get --watch -o json receives an update made while watching', async () => {
    const kw = kubectlWatch(['get', 'deploy', '-n', 'openfaas-fn', '--watch', '-o', 'json']);
    const waitFor = kw.waitFor.bind(kw);
    try {
      await waitFor(() => splitJsonStream(kw.stdout()).length >= 2 && fake.openWatches > 0, 'the initial list and an open watch');
      fake.mutateDeployment('other', 'openfaas-fn', (d) => { (d['spec'] as { replicas: number }).replicas = 7; });
      await waitFor(() => splitJsonStream(kw.stdout()).some((o) => (o['metadata'] as { name: string }).name === 'other'
        && (o['spec'] as { replicas: number }).replicas === 7), 'the update');
      const watch = fake.requests.find((r) => r.query['watch'] === 'true');
      expect(Number(watch?.query['resourceVersion'])).toBeGreaterThan(0);
    } finally {
      await kw.stop();
    }
  });
  type PodJson = { metadata: { name: string; annotations?: Record<string, string> }; status: { podIP: string; conditions: Array<{ type: string; status: string }> } };
  type SliceJson = {
    metadata: { labels: Record<string, string> };
    ports: Array<{ name: string; port: number }>;
    endpoints: Array<{ addresses: string[]; conditions: { ready: boolean; serving: boolean; terminating: boolean }; targetRef: { kind: string; name: string } }>;
  };
  const podsOf = async (selector: string): Promise<PodJson[]> => {
    const run = await kubectl(['get', 'pods', '-n', 'openfaas-fn', '-l', selector, '-o', 'json']);
    expect(run.stderr).toBe('');
    return (JSON.parse(run.stdout) as { items: PodJson[] }).items;
  };
  const sliceOf = async (service: string): Promise<SliceJson> => {
    const run = await kubectl(['get', 'endpointslices', '-n', 'openfaas-fn', '-l', `kubernetes.io/service-name=${service}`, '-o', 'json']);
    expect(run.stderr).toBe('');
    const items = (JSON.parse(run.stdout) as { items: SliceJson[] }).items;
    expect(items).toHaveLength(1);
    return items[0] as SliceJson;
  };

  it('kubectl lists the pods of a Deployment with their 127.0.0.N IPs and the EndpointSlice that names them', async () => {
    fake.addDeployment({ name: 'web', replicas: 2, labels: { app: 'web' } });
    const pods = await podsOf('app=web');
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.status.podIP).toMatch(/^127\.0\.0\.\d+$/);
      expect(p.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    }
    const slice = await sliceOf('web');
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice.endpoints.map((e) => [e.targetRef.kind, e.targetRef.name, e.addresses[0], e.conditions]).sort()).toEqual(
      pods.map((p) => ['Pod', p.metadata.name, p.status.podIP, { ready: true, serving: true, terminating: false }]).sort(),
    );
  });

  it('a pod the test marks not ready reads as not ready in its pod, its endpoint and the Deployment status', async () => {
    const [first] = await podsOf('app=web');
    if (first === undefined) throw new Error('no pod');
    fake.setPodReady(first.metadata.name, false);
    const slice = await sliceOf('web');
    expect(slice.endpoints.find((e) => e.targetRef.name === first.metadata.name)?.conditions).toEqual({ ready: false, serving: false, terminating: false });
    const d = JSON.parse((await kubectl(['get', 'deploy', 'web', '-n', 'openfaas-fn', '-o', 'json'])).stdout) as { status: { readyReplicas: number } };
    expect(d.status.readyReplicas).toBe(1);
    fake.setPodReady(first.metadata.name, true);
  });

  it('kubectl annotate patches the pod-deletion-cost, and a scale-down then removes that pod first', async () => {
    const pods = await podsOf('app=web');
    const victim = pods[1]?.metadata.name ?? '';
    const run = await kubectl(['annotate', 'pod', victim, '-n', 'openfaas-fn', 'controller.kubernetes.io/pod-deletion-cost=-2147483648']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const patch = fake.requests.filter((r) => r.method === 'PATCH' && r.resource === 'pods').at(-1);
    expect(patch?.body).toMatchObject({ metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '-2147483648' } } });
    expect((await podsOf('app=web')).find((p) => p.metadata.name === victim)?.metadata.annotations).toMatchObject({ 'controller.kubernetes.io/pod-deletion-cost': '-2147483648' });
    expect((await kubectl(['scale', 'deployment/web', '--replicas=1', '-n', 'openfaas-fn'])).code).toBe(0);
    expect((await podsOf('app=web')).map((p) => p.metadata.name)).toEqual([pods[0]?.metadata.name]);
    expect((await sliceOf('web')).endpoints.map((e) => e.targetRef.name)).toEqual([pods[0]?.metadata.name]);
  });

  it('kubectl get endpointslices --watch -o json receives the endpoint of a new pod', async () => {
    const kw = kubectlWatch(['get', 'endpointslices', '-n', 'openfaas-fn', '-l', 'kubernetes.io/service-name=web', '--watch', '-o', 'json']);
    const waitFor = kw.waitFor.bind(kw);
    const endpointsSeen = (): number => Math.max(0, ...splitJsonStream(kw.stdout()).map((o) => ((o['endpoints'] as unknown[] | undefined) ?? []).length));
    try {
      await waitFor(() => splitJsonStream(kw.stdout()).length >= 1 && fake.openWatches > 0, 'the initial list and an open watch');
      expect(endpointsSeen()).toBe(1);
      fake.mutateDeployment('web', 'openfaas-fn', (d) => { (d['spec'] as { replicas: number }).replicas = 2; });
      await waitFor(() => endpointsSeen() === 2, 'the second endpoint');
    } finally {
      await kw.stop();
    }
  });
  it('kubectl get --chunk-size pages a label-selected list with limit and continue, and gets exactly the labelled pods', async () => {
    fake.addDeployment({ name: 'paged', replicas: 3, labels: { faas_function: 'paged' } });
    fake.addPods(4, { prefix: 'stray' });
    const before = fake.requests.length;
    const run = await kubectl(['get', 'pods', '-n', 'openfaas-fn', '-l', 'faas_function', '--chunk-size=1', '-o', 'json']);
    expect(run.stderr).toBe('');
    const names = (JSON.parse(run.stdout) as { items: PodJson[] }).items.map((p) => p.metadata.name);
    expect(names.sort()).toEqual(fake.objects('', 'pods', 'openfaas-fn').filter((p) => (p.metadata['labels'] as Record<string, string>)['faas_function'] !== undefined).map((p) => p.metadata.name).sort());
    expect(names.some((n) => n.startsWith('stray-'))).toBe(false);
    const lists = fake.requests.slice(before).filter((r) => r.verb === 'list' && r.resource === 'pods');
    expect(lists.length).toBe(names.length);
    expect(lists.every((r) => r.query['limit'] === '1' && r.query['labelSelector'] === 'faas_function')).toBe(true);
    expect(lists.slice(1).every((r) => (r.query['continue'] ?? '') !== '')).toBe(true);
  });

  it('kubectl get -l --watch --output-watch-events: a Deployment that stops matching the selector is DELETED, one that starts is ADDED', async () => {
    const kw = kubectlWatch(['get', 'deploy', '-n', 'openfaas-fn', '-l', 'faas_function', '--watch', '--output-watch-events', '-o', 'json']);
    const waitFor = kw.waitFor.bind(kw);
    const events = (): Array<[string, string]> => splitJsonStream(kw.stdout()).map((e) => [String(e['type']), ((e['object'] as { metadata: { name: string } }).metadata.name)]);
    try {
      await waitFor(() => events().some(([, n]) => n === 'echo') && fake.openWatches > 0, 'the initial list and an open watch');
      expect(events().some(([, n]) => n === 'other')).toBe(false);
      fake.mutateDeployment('echo', 'openfaas-fn', (d) => { delete (d.metadata['labels'] as Record<string, string>)['faas_function']; });
      await waitFor(() => events().some(([t, n]) => t === 'DELETED' && n === 'echo'), 'echo DELETED');
      fake.mutateDeployment('echo', 'openfaas-fn', (d) => { (d.metadata['labels'] as Record<string, string>)['faas_function'] = 'echo'; });
      await waitFor(() => events().filter(([t, n]) => t === 'ADDED' && n === 'echo').length >= 2, 'echo ADDED again');
      const watch = fake.requests.filter((r) => r.verb === 'watch' && r.resource === 'deployments').at(-1);
      expect(watch?.query['labelSelector']).toBe('faas_function');
    } finally {
      await kw.stop();
    }
  });

  describe('ConfigMaps (named policies)', () => {
    type ConfigMapJson = { metadata: { name: string; namespace: string; generateName?: string }; data?: Record<string, string> };
    const configMap = (name: string): Record<string, string> | undefined =>
      (fake.objects('', 'configmaps', 'openfaas-fn').find((o) => o.metadata.name === name)?.['data'] as Record<string, string> | undefined);

    it('kubectl create configmap --from-literal sends protobuf, and the fake stores the decoded ConfigMap', async () => {
      const run = await kubectl(['create', 'configmap', 'get-start-configmap', '-n', 'openfaas-fn',
        '--from-literal', 'min_workers=1', '--from-literal', 'max_workers=5', '--from-literal', 'max_queue_size=2',
        '--from-literal', 'scale_up_step=1', '--from-literal', 'max_idle_time=60']);
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain('configmap/get-start-configmap created');
      const post = fake.requests.filter((r) => r.method === 'POST' && r.resource === 'configmaps').at(-1);
      expect(post?.contentType).toBe('application/vnd.kubernetes.protobuf');
      expect(post?.accept).toContain('application/json');
      expect(configMap('get-start-configmap')).toEqual({ min_workers: '1', max_workers: '5', max_queue_size: '2', scale_up_step: '1', max_idle_time: '60' });
    });

    it('kubectl get configmap -o json reads it back without the empty fields protobuf carried', async () => {
      const run = await kubectl(['get', 'configmap', 'get-start-configmap', '-n', 'openfaas-fn', '-o', 'json']);
      expect(run.stderr).toBe('');
      const cm = JSON.parse(run.stdout) as ConfigMapJson;
      expect(cm.metadata).toMatchObject({ name: 'get-start-configmap', namespace: 'openfaas-fn' });
      expect(cm.metadata.generateName).toBeUndefined();
      expect(cm.data?.['max_idle_time']).toBe('60');
    });

    it('kubectl edit with KUBE_EDITOR rewriting a value patches the ConfigMap', async () => {
      const editor = join(dir, 'edit-min-workers.sh');
      await writeFile(editor, '#!/bin/sh\nsed -i \'s/min_workers: "1"/min_workers: "2"/\' "$1"\n');
      await chmod(editor, 0o755);
      const edited = await new Promise<Run>((resolve, reject) => {
        const child = spawn(kubectlPath ?? 'kubectl', ['--cache-dir', join(dir, 'cache'), 'edit', 'configmap', 'get-start-configmap', '-n', 'openfaas-fn'], { env: { ...env, KUBE_EDITOR: editor } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
        child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
      expect(edited.stderr).toBe('');
      expect(edited.stdout).toContain('configmap/get-start-configmap edited');
      const patch = fake.requests.filter((r) => r.method === 'PATCH' && r.resource === 'configmaps').at(-1);
      expect(patch?.contentType).toBe('application/strategic-merge-patch+json');
      expect(patch?.body).toEqual({ data: { min_workers: '2' } });
      expect(configMap('get-start-configmap')?.['min_workers']).toBe('2');
    });

    it('kubectl apply -f creates a ConfigMap as JSON, then patches it when the file changes', async () => {
      const file = join(dir, 'policy.yaml');
      const manifest = (min: number): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied-policy\n  namespace: openfaas-fn\ndata:\n  min-scale: "${min}"\n`;
      await writeFile(file, manifest(1));
      const created = await kubectl(['apply', '-f', file]);
      expect(created.stderr).toBe('');
      expect(created.stdout).toContain('configmap/applied-policy created');
      expect(fake.requests.filter((r) => r.method === 'POST' && r.resource === 'configmaps').at(-1)?.contentType).toBe('application/json');
      await writeFile(file, manifest(3));
      const configured = await kubectl(['apply', '-f', file]);
      expect(configured.stderr).toBe('');
      expect(configured.stdout).toContain('configmap/applied-policy configured');
      expect(configMap('applied-policy')).toEqual({ 'min-scale': '3' });
    });

    it('kubectl delete configmap removes it', async () => {
      const run = await kubectl(['delete', 'configmap', 'applied-policy', '-n', 'openfaas-fn']);
      expect(run.code).toBe(0);
      expect(configMap('applied-policy')).toBeUndefined();
    });
  });
});
