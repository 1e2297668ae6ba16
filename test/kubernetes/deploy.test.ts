/**
 * deploy/ renders with `kubectl kustomize`, its RBAC is exactly the least-privilege set, and
 * that set is both sufficient for and fully used by the calls the Kubernetes provider, the
 * alert state store, the named-policy ConfigMap cache and the leader elector really make (recorded by the fake API server).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadAll } from 'js-yaml';
import { packageRoot } from '../../src/bootstrap.js';
import { createKubernetesProviderBundle, scaleEventApi } from '../../src/providers/kubernetes/index.js';
import { KubernetesAlertStateStore } from '../../src/providers/kubernetes/state-store.js';
import { Sharding } from '../../src/providers/kubernetes/sharding.js';
import { ConfigMapPolicySource } from '../../src/providers/kubernetes/policies.js';
import type { RecordedRequest } from './fake-api-server.js';
import { quietLogger, startFake, waitFor } from './helpers.js';

type Doc = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

const root = packageRoot();

function onPath(tool: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const haveKubectl = onPath('kubectl');
if (!haveKubectl && process.env['CI'] !== 'true') {
  process.stderr.write('\n*** kubectl not found on PATH: SKIPPING test/kubernetes/deploy.test.ts (kustomize rendering unchecked) ***\n\n');
}
const describeKubectl = !haveKubectl && process.env['CI'] !== 'true' ? describe.skip : describe;

function kustomize(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['kustomize', dir], { env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir() } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`kubectl kustomize ${dir} exited ${code}: ${err}`));
    });
  });
}

/** `nats-server -t -c file`: its output when the configuration is valid; rejects otherwise. */
function checkNatsConf(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nats-server', ['-t', '-c', file]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`nats-server -t exited ${code}: ${out}`));
    });
  });
}

/** `namespace group resource verb [name]` for every permission a rule grants. */
function grants(namespace: string, rules: Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) {
      if (r.resourceNames === undefined) out.push(`${namespace} ${g} ${res} ${v}`);
      else for (const n of r.resourceNames) out.push(`${namespace} ${g} ${res} ${v} ${n}`);
    }
  }
  return out.sort();
}

/** The permission a recorded request needs, in the same words. */
function needed(r: RecordedRequest): { any: string; named: string | null } {
  const resource = r.subresource === null ? r.resource : `${r.resource}/${r.subresource}`;
  const base = `${r.namespace} ${r.group} ${resource} ${r.verb}`;
  const parts = r.path.split('/');
  const resIndex = parts.indexOf(r.resource ?? '');
  const name = parts[resIndex + 1];
  return { any: base, named: name === undefined ? null : `${base} ${name}` };
}

describeKubectl('deploy/ manifests', () => {
  let docs: Doc[];
  let rendered: string;

  beforeAll(async () => {
    rendered = await kustomize(join(root, 'deploy'));
    docs = (loadAll(rendered) as Doc[]).filter((d) => d !== null);
  });

  const one = (kind: string, name: string): Doc => {
    const found = docs.find((d) => d.kind === kind && d.metadata.name === name);
    if (found === undefined) throw new Error(`${kind}/${name} not rendered`);
    return found;
  };

  it('renders the expected objects', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`).sort()).toEqual([
      'Deployment/openfaas/alert-scaler',
      'PodDisruptionBudget/openfaas/alert-scaler',
      'Role/openfaas-fn/alert-scaler-functions',
      'Role/openfaas/alert-scaler-leases',
      'RoleBinding/openfaas-fn/alert-scaler-functions',
      'RoleBinding/openfaas/alert-scaler-leases',
      'Secret/openfaas/alert-scaler-basic-auth',
      'Service/openfaas/alert-scaler',
      'ServiceAccount/openfaas/alert-scaler',
    ]);
  });

  it('RBAC is exactly the least-privilege set: namespaced Roles, no wildcards, nothing else', () => {
    expect(docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')).toEqual([]);
    const all = docs.filter((d) => d.kind === 'Role').flatMap((d) => grants(d.metadata.namespace ?? '', d['rules'] as Rule[])).sort();
    expect(all.some((g) => g.includes('*'))).toBe(false);
    expect(all).toEqual([
      'openfaas coordination.k8s.io leases create',
      'openfaas coordination.k8s.io leases delete',
      'openfaas coordination.k8s.io leases get',
      'openfaas coordination.k8s.io leases list',
      'openfaas coordination.k8s.io leases update',
      'openfaas-fn  configmaps list',
      'openfaas-fn  configmaps watch',
      'openfaas-fn  events create',
      'openfaas-fn  events patch',
      'openfaas-fn  pods list',
      'openfaas-fn  pods patch',
      'openfaas-fn  pods watch',
      'openfaas-fn discovery.k8s.io endpointslices list',
      'openfaas-fn discovery.k8s.io endpointslices watch',
      'openfaas-fn apps deployments get',
      'openfaas-fn apps deployments list',
      'openfaas-fn apps deployments patch',
      'openfaas-fn apps deployments watch',
    ].sort());
    for (const b of docs.filter((d) => d.kind === 'RoleBinding')) {
      expect(b['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'alert-scaler', namespace: 'openfaas' }]);
      expect(b['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: b.metadata.name });
    }
  });

  it('the RBAC covers every call the provider, state store and sharding make, and grants nothing they do not use', async () => {
    const { fake, kubeconfig, close } = await startFake({ readyDelayMs: 0 });
    try {
      fake.addDeployment({ name: 'fn', replicas: 2 });
      const { provider, api } = createKubernetesProviderBundle({ kubeconfig, logger: quietLogger(), minBackoffMs: 10 });
      await provider.start();
      await provider.listFunctions();
      await provider.getReplicas({ name: 'fn', namespace: 'openfaas-fn' });
      await provider.setReplicas({ name: 'fn', namespace: 'openfaas-fn' }, 3);
      await provider.recordScaleEvent({ name: 'fn', namespace: 'openfaas-fn' }, 1, 2, 'alert test');
      // The Scaled Event of a function is created once, then bumped (patch).
      const events = scaleEventApi({ api, provider });
      const name = await events.create({ name: 'fn', namespace: 'openfaas-fn' }, { from: 2, to: 3, message: 'alert test' }, 1, new Date());
      await events.bump({ name: 'fn', namespace: 'openfaas-fn' }, name, { from: 3, to: 2, message: 'alert test' }, 2, new Date());
      const policies = new ConfigMapPolicySource(api, ['openfaas-fn'], quietLogger(), { minBackoffMs: 10, maxBackoffMs: 100, watchDeadlineMs: 60_000 });
      await policies.start();
      // The provider's six watches (two selectors a kind) may all be open before the ConfigMap one: wait for that one by name.
      await waitFor(() => fake.openWatches >= 4 && fake.requests.some((r) => r.resource === 'configmaps' && r.query['watch'] === 'true'), 'the Deployment, pod, EndpointSlice and ConfigMap watches');
      await policies.close();
      const [oldest] = provider.listReplicas({ name: 'fn', namespace: 'openfaas-fn' });
      await provider.removeReplicas({ name: 'fn', namespace: 'openfaas-fn' }, [oldest?.id ?? '']);
      const store = new KubernetesAlertStateStore({ api, namespaces: ['openfaas-fn'], logger: quietLogger() });
      const loaded = await store.load({ name: 'fn', namespace: 'openfaas-fn' });
      await store.save({ name: 'fn', namespace: 'openfaas-fn' }, { firing: {}, scaleDownAt: 1, steps: {} }, loaded.version);
      await store.listPending();
      // Membership and buckets: create, list and update Leases; a conflict reads one again
      // (get); stopping releases the buckets (get, update) and deletes the member Lease.
      const sharding = new Sharding({ api, namespace: 'openfaas', group: 'alert-scaler', buckets: 2, leaseDurationSeconds: 15, renewMs: 10_000, identity: 'a', logger: quietLogger() });
      await sharding.round(); // creates the member and bucket Leases
      await sharding.round(); // lists and updates them
      await sharding.stop();
      await provider.close();

      const allowed = new Set(docs.filter((d) => d.kind === 'Role').flatMap((d) => grants(d.metadata.namespace ?? '', d['rules'] as Rule[])));
      const used = new Set<string>();
      for (const call of fake.apiCalls()) {
        const { any, named } = needed(call);
        const grant = allowed.has(any) ? any : named !== null && allowed.has(named) ? named : null;
        expect([call.method, call.path, grant]).toEqual([call.method, call.path, expect.any(String)]);
        if (grant !== null) used.add(grant);
      }
      expect([...allowed].filter((g) => !used.has(g))).toEqual([]);
    } finally {
      await close();
    }
  });

  it('the Deployment runs 2 hardened replicas of the kubernetes provider with probes and requests', () => {
    const d = one('Deployment', 'alert-scaler') as Doc & { spec: { replicas: number; template: { spec: Record<string, unknown> } } };
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec as {
      serviceAccountName: string; securityContext: { runAsNonRoot: boolean };
      containers: Array<{
        env: Array<{ name: string; value?: string; valueFrom?: unknown }>; ports: Array<{ name: string; containerPort: number }>;
        readinessProbe: { httpGet: { path: string; port: string } }; livenessProbe: { httpGet: { path: string; port: string } };
        resources: { requests: Record<string, string> };
        securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; runAsNonRoot: boolean };
      }>;
    };
    expect(pod.serviceAccountName).toBe('alert-scaler');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const [c] = pod.containers;
    if (c === undefined) throw new Error('no container');
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env['ALERT_SCALER_PROVIDER']).toBe('kubernetes');
    expect(env['ALERT_SCALER_NAMESPACES']).toBe('openfaas-fn');
    expect(env['ALERT_SCALER_LEASE_NAME']).toBe('alert-scaler');
    expect(env['POD_IP']).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
    // The Lease follows the namespace the overlay chose: the pod's own.
    expect(env['ALERT_SCALER_LEASE_NAMESPACE']).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    expect(env['ALERT_SCALER_BASIC_AUTH_USER']).toEqual({ secretKeyRef: { name: 'alert-scaler-basic-auth', key: 'basic-auth-user' } });
    expect(env['ALERT_SCALER_BASIC_AUTH_PASSWORD_FILE']).toBe('/var/secrets/alert-scaler/basic-auth-password');
    expect(env['ALERT_SCALER_BASIC_AUTH_PASSWORD']).toBeUndefined();
    // The function listener (PORT) and the admin listener (ALERT_SCALER_ADMIN_PORT, default 8081).
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'admin', containerPort: 8081, protocol: 'TCP' }]);
    expect(env['PORT'] ?? '8080').toBe('8080');
    expect(env['ALERT_SCALER_ADMIN_PORT'] ?? '8081').toBe('8081');
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(Object.keys(c.resources.requests).sort()).toEqual(['cpu', 'memory']);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true });
  });

  it('the Service and the PodDisruptionBudget select the Deployment pods', () => {
    const labels = ((one('Deployment', 'alert-scaler')['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels);
    const matches = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const service = one('Service', 'alert-scaler')['spec'] as { selector: Record<string, string>; type?: string; ports: Array<{ name: string; port: number; targetPort: string }> };
    expect(matches(service.selector)).toBe(true);
    // Both listeners, each to the container port of its name; cluster-internal only.
    expect(service.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([['http', 8080, 'http'], ['admin', 8081, 'admin']]);
    expect(service.type ?? 'ClusterIP').toBe('ClusterIP');
    const pdb = one('PodDisruptionBudget', 'alert-scaler')['spec'] as { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    expect(matches(pdb.selector.matchLabels)).toBe(true);
    expect(pdb.minAvailable).toBe(1);
  });

  it('creates no Namespace: alert-scaler installs into one it does not own', () => {
    expect(docs.filter((d) => d.kind === 'Namespace')).toEqual([]);
    expect(rendered).not.toMatch(/^kind: Namespace$/m);
  });

  it('an overlay for another namespace moves alert-scaler, its Lease Role and the RoleBinding subjects; the functions RBAC stays in openfaas-fn', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'deploy-ns-'));
    try {
      await cp(join(root, 'deploy'), copy, { recursive: true });
      const transformer = join(copy, 'overlays', 'openfaas', 'namespace.yaml');
      const text = await readFile(transformer, 'utf8');
      expect(text).toContain('  namespace: openfaas\n');
      await writeFile(transformer, text.replace('  namespace: openfaas\n', '  namespace: team-a\n'));
      const other = (loadAll(await kustomize(copy)) as Doc[]).filter((d) => d !== null);
      expect(other.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`).sort()).toEqual([
        'Deployment/team-a/alert-scaler',
        'PodDisruptionBudget/team-a/alert-scaler',
        'Role/openfaas-fn/alert-scaler-functions',
        'Role/team-a/alert-scaler-leases',
        'RoleBinding/openfaas-fn/alert-scaler-functions',
        'RoleBinding/team-a/alert-scaler-leases',
        'Secret/team-a/alert-scaler-basic-auth',
        'Service/team-a/alert-scaler',
        'ServiceAccount/team-a/alert-scaler',
      ]);
      for (const b of other.filter((d) => d.kind === 'RoleBinding')) {
        expect(b['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'alert-scaler', namespace: 'team-a' }]);
      }
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('the NATS component (off by default) renders a nats StatefulSet with JetStream on a PVC, names no namespace of its own, and sets ALERT_SCALER_ASYNC_NATS_URL on the gateway', async () => {
    // Off by default: nothing of it in the shipped render, and the gateway keeps its embedded log.
    expect(docs.filter((d) => d.metadata.name === 'alert-scaler-nats')).toEqual([]);
    const componentDir = join(root, 'deploy', 'components', 'nats');
    // Its files name no namespace: the overlay's transformer places them beside the gateway.
    for (const f of ['configmap.yaml', 'service.yaml', 'statefulset.yaml', 'gateway-env.yaml']) {
      for (const d of (loadAll(await readFile(join(componentDir, f), 'utf8')) as Doc[]).filter((x) => x !== null)) expect(d.metadata.namespace).toBeUndefined();
    }
    const copy = await mkdtemp(join(tmpdir(), 'deploy-nats-'));
    try {
      await cp(join(root, 'deploy'), copy, { recursive: true });
      const overlay = join(copy, 'overlays', 'openfaas', 'kustomization.yaml');
      const text = await readFile(overlay, 'utf8');
      expect(text).toContain('# components:\n#   - ../../components/nats\n');
      // Enabled as docs/kubernetes.md says: the two lines uncommented; then in another namespace too.
      await writeFile(overlay, text.replace('# components:\n#   - ../../components/nats\n', 'components:\n  - ../../components/nats\n'));
      const rendered = (loadAll(await kustomize(copy)) as Doc[]).filter((d) => d !== null);
      const names = rendered.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`);
      expect(names).toEqual(expect.arrayContaining(['ConfigMap/openfaas/alert-scaler-nats', 'Service/openfaas/alert-scaler-nats', 'StatefulSet/openfaas/alert-scaler-nats', 'Deployment/openfaas/alert-scaler']));
      expect(rendered.filter((d) => d.kind === 'Namespace')).toEqual([]);
      const find = (kind: string, name: string): Doc => rendered.find((d) => d.kind === kind && d.metadata.name === name) as Doc;
      const sts = find('StatefulSet', 'alert-scaler-nats')['spec'] as {
        replicas: number; serviceName: string;
        template: { spec: { containers: Array<{ image: string; args: string[]; volumeMounts: Array<{ name: string; mountPath: string }> }> } };
        volumeClaimTemplates: Array<{ metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }>;
      };
      expect(sts.replicas).toBe(1);
      const [nats] = sts.template.spec.containers;
      // The official image at a pinned version (not latest, not a floating major).
      expect(nats?.image).toMatch(/^nats:\d+\.\d+\.\d+(-alpine)?$/);
      expect(nats?.volumeMounts).toEqual(expect.arrayContaining([{ name: 'data', mountPath: '/data' }]));
      expect(sts.volumeClaimTemplates.map((v) => v.metadata.name)).toEqual(['data']);
      const conf = (find('ConfigMap', 'alert-scaler-nats')['data'] as Record<string, string>)['nats.conf'] ?? '';
      expect(conf).toMatch(/jetstream \{[^}]*store_dir: \/data/);
      if (onPath('nats-server')) {
        // nats-server's own check of the file (Debian's 2.9 knows every setting used).
        const file = join(copy, 'nats.conf');
        await writeFile(file, conf.replace('store_dir: /data', `store_dir: ${join(copy, 'js')}`));
        expect(await checkNatsConf(file)).toMatch(/is valid/);
      }
      const service = find('Service', 'alert-scaler-nats')['spec'] as { ports: Array<{ port: number }> };
      expect(service.ports.map((p) => p.port)).toEqual([4222]);
      const gateway = find('Deployment', 'alert-scaler')['spec'] as { template: { spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }> } } };
      const env = gateway.template.spec.containers.find((c) => c.name === 'alert-scaler')?.env ?? [];
      expect(env.find((e) => e.name === 'ALERT_SCALER_ASYNC_NATS_URL')?.value).toBe('nats://alert-scaler-nats:4222');
      // The patch adds one variable and keeps the rest.
      expect(env.find((e) => e.name === 'ALERT_SCALER_PROVIDER')?.value).toBe('kubernetes');

      const transformer = join(copy, 'overlays', 'openfaas', 'namespace.yaml');
      await writeFile(transformer, (await readFile(transformer, 'utf8')).replace('  namespace: openfaas\n', '  namespace: team-a\n'));
      const moved = (loadAll(await kustomize(copy)) as Doc[]).filter((d) => d !== null && d.metadata.name === 'alert-scaler-nats');
      expect(moved.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}`).sort()).toEqual(['ConfigMap/team-a', 'Service/team-a', 'StatefulSet/team-a']);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('rendering ignores other files under deploy/ (those belong to Alertmanager, Prometheus, Grafana)', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'deploy-copy-'));
    try {
      await cp(join(root, 'deploy'), copy, { recursive: true });
      await writeFile(join(copy, 'stray.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n');
      await writeFile(join(copy, 'kubernetes-notes.yml'), 'not: [valid');
      expect(await kustomize(copy)).toBe(rendered);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  let text: string;
  beforeAll(async () => {
    text = await readFile(join(root, 'Dockerfile'), 'utf8');
  });

  it('is multi-stage on node:22, builds with npm ci + npm run build, runs as non-root', () => {
    const froms = text.split('\n').filter((l) => l.startsWith('FROM '));
    expect(froms).toHaveLength(2);
    for (const f of froms) expect(f).toMatch(/^FROM node:22[\w.-]* AS \w+$/);
    expect(text).toContain('RUN npm ci');
    expect(text).toContain('RUN npm run build');
    expect(text).toMatch(/^USER 1000(:1000)?$/m);
    // Its V8 flags are checked against src/bootstrap/node-flags.ts in test/deploy/container.test.ts.
    expect(text).toMatch(/^CMD \["node", (?:"--[^"]+", )*"dist\/src\/main\.js"\]$/m);
  });
});
