import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Registry } from 'prom-client';
import request from 'supertest';
import { packageRoot, startScaler, type RunningScaler } from '../../src/bootstrap.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { capturingLogger } from '../support/harness.js';
import { kubernetesConfig, startFake, waitFor } from './helpers.js';

/*
 * The whole scaler (webhook, scaler, idler) on the Kubernetes provider, through the real
 * client-node, against the fake API server: the same fixtures as the local provider tests.
 */

type Payload = { alerts: Array<Record<string, unknown>> } & Record<string, unknown>;
const fixture = (name: string): Payload => JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', `${name}.json`), 'utf8')) as Payload;
const forFunction = (payload: Payload, fn: string): Payload => ({
  ...payload,
  alerts: payload.alerts.map((a) => ({ ...a, labels: { ...(a['labels'] as Record<string, string>), function_name: fn } })),
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cluster() {
  const env = await startFake({ readyDelayMs: 20 });
  cleanups.push(() => env.close());
  return env;
}

async function scaler(kubeconfig: string, extra: Record<string, string> = {}, logger: Logger = silentLogger()): Promise<RunningScaler> {
  const config = kubernetesConfig(kubeconfig, extra);
  const running = await startScaler(config, { logger, registry: new Registry() });
  cleanups.push(() => running.close());
  return running;
}

/** A stand-in for a function's Service: an HTTP server on 127.0.0.1 that echoes the body. */
async function fakeService(): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

/**
 * Stand-ins for pods: one HTTP server per pod IP (127.0.0.2, 127.0.0.3, ...: the fake gives
 * its pods these addresses in creation order), all on one port, each answering its address.
 */
async function podServers(count: number): Promise<{ port: number; hits: Map<string, number> }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const hits = new Map<string, number>();
    const servers: http.Server[] = [];
    const listen = (host: string, port: number): Promise<number> => new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => {
        const address = req.socket.localAddress ?? '';
        hits.set(address, (hits.get(address) ?? 0) + 1);
        req.resume();
        req.on('end', () => res.end(address));
      });
      server.once('error', reject);
      server.listen(port, host, () => {
        servers.push(server);
        resolve((server.address() as AddressInfo).port);
      });
    });
    try {
      const port = await listen('127.0.0.2', 0);
      for (let i = 3; i < 2 + count; i++) await listen(`127.0.0.${i}`, port);
      cleanups.push(() => Promise.all(servers.map((sv) => new Promise<void>((r) => sv.close(() => r())))).then(() => undefined));
      return { port, hits };
    } catch {
      // The port was taken on another address: try another one.
      await Promise.all(servers.map((sv) => new Promise<void>((r) => sv.close(() => r()))));
    }
  }
  throw new Error('no port free on all pod addresses');
}

describe('the scaler on the Kubernetes provider, routing to pods', () => {
  const ref = { name: 'echo', namespace: 'openfaas-fn' };

  it('requests go to the pod addresses of the EndpointSlice, and a pod whose endpoint is not ready gets none', async () => {
    const { fake, kubeconfig } = await cluster();
    const pods = await podServers(3);
    fake.addDeployment({ name: 'echo', replicas: 3, port: pods.port, labels: { faas_function: 'echo' } });
    const s = await scaler(kubeconfig);
    await waitFor(() => s.provider.listReplicas(ref).filter((r) => r.phase === 'ready').length === 3, 'three ready replicas');

    const answers = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await request(s.server).post('/function/echo').send('hi');
      expect(res.status).toBe(200);
      answers.add(res.text);
    }
    expect([...answers].sort()).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    expect([...pods.hits.values()].reduce((a, b) => a + b, 0)).toBe(30);

    const slow = fake.pods('echo').find((p) => (p['status'] as { podIP: string }).podIP === '127.0.0.3');
    fake.setPodReady(slow?.metadata.name ?? '', false);
    await waitFor(() => s.provider.listReplicas(ref).some((r) => r.phase === 'starting'), 'the endpoint not ready');
    const before = pods.hits.get('127.0.0.3');
    for (let i = 0; i < 30; i++) expect((await request(s.server).post('/function/echo').send('hi')).text).not.toBe('127.0.0.3');
    expect(pods.hits.get('127.0.0.3')).toBe(before);
  });

  it('a function at zero wakes and its first request goes to the new pod', async () => {
    const { fake, kubeconfig } = await cluster();
    const pods = await podServers(1);
    fake.addDeployment({ name: 'echo', replicas: 0, port: pods.port, labels: { faas_function: 'echo', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero': 'true' } });
    const s = await scaler(kubeconfig);
    const cold = await request(s.server).post('/function/echo').send('wake');
    expect(cold.status).toBe(200);
    expect(cold.text).toBe('127.0.0.2');
    expect(cold.headers['x-scale-from-zero']).toMatch(/^\d+$/);
  });

  it('removing a replica sets the lowest deletion cost on that pod before the scale-down, so that pod goes and gets no more requests', async () => {
    const { fake, kubeconfig } = await cluster();
    const pods = await podServers(3);
    fake.addDeployment({ name: 'echo', replicas: 3, port: pods.port, labels: { faas_function: 'echo' } });
    const s = await scaler(kubeconfig);
    await waitFor(() => s.provider.listReplicas(ref).filter((r) => r.phase === 'ready').length === 3, 'three ready replicas');
    // The oldest pod: a plain scale-down would remove the newest instead.
    const victim = fake.pods('echo').find((p) => (p['status'] as { podIP: string }).podIP === '127.0.0.2')?.metadata.name ?? '';
    const from = fake.requests.length;
    await s.provider.removeReplicas(ref, [victim]);
    const writes = fake.requests.slice(from).filter((r) => r.method !== 'GET');
    const patch = writes.findIndex((r) => r.resource === 'pods' && r.path.endsWith(`/${victim}`));
    const scale = writes.findIndex((r) => r.resource === 'deployments' && (r.body as { spec?: unknown } | undefined)?.spec !== undefined);
    expect(patch).toBeGreaterThanOrEqual(0);
    expect(scale).toBeGreaterThan(patch);
    expect(fake.replicasOf('echo')).toBe(2);
    expect(fake.pods('echo').map((p) => (p['status'] as { podIP: string }).podIP).sort()).toEqual(['127.0.0.3', '127.0.0.4']);
    await waitFor(() => s.provider.listReplicas(ref).length === 2, 'the pod gone from the cache');
    const before = pods.hits.get('127.0.0.2') ?? 0;
    for (let i = 0; i < 10; i++) expect((await request(s.server).post('/function/echo').send('hi')).status).toBe(200);
    expect(pods.hits.get('127.0.0.2') ?? 0).toBe(before);
  });
});

describe('the scaler on the Kubernetes provider', () => {
  it('service routing: the gateway proxies to the templated Service URL, wakes a Deployment at zero, and reads no API per warm request', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.addDeployment({ name: 'echo', replicas: 0, labels: { faas_function: 'echo', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero': 'true' } });
    const service = await fakeService();
    const s = await scaler(kubeconfig, { ALERT_SCALER_KUBERNETES_ROUTING: 'service', ALERT_SCALER_FUNCTION_URL_TEMPLATE: service.url });

    const cold = await request(s.server).post('/function/echo').send('wake me');
    expect(cold.status).toBe(200);
    expect(cold.text).toBe('wake me');
    expect(cold.headers['x-scale-from-zero']).toMatch(/^\d+$/);
    expect(fake.replicasOf('echo')).toBe(1);

    const readsBefore = fake.apiCalls().filter((c) => c.verb === 'get').length;
    for (let i = 0; i < 20; i++) expect((await request(s.server).post('/function/echo').send(`warm ${i}`)).text).toBe(`warm ${i}`);
    expect(fake.apiCalls().filter((c) => c.verb === 'get').length).toBe(readsBefore);
    expect(service.hits()).toBe(21);

    const unknown = await request(s.server).get('/function/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('FUNCTION_UNKNOWN');
  });

  it('firing and resolved fixtures scale a Deployment exactly as they scale a local function', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo', 'com.openfaas.scale.max': '10', 'com.openfaas.scale.down.window': '500ms' } });
    // Events of one function are written at most once per interval: 200 ms here, not 30 s.
    const s = await scaler(kubeconfig, { ALERT_SCALER_KUBERNETES_EVENT_INTERVAL_SECONDS: '0.2' });

    const up = await request(s.adminServer).post('/system/alert').send(fixture('firing-single'));
    expect(up.status).toBe(200);
    expect(up.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3, reason: 'step-up' });
    expect(fake.replicasOf('echo')).toBe(3);
    const messages = () =>
      fake
        .objects('', 'events', 'openfaas-fn')
        .concat(fake.objects('events.k8s.io', 'events', 'openfaas-fn'))
        .map((e) => String((e as { message?: string; note?: string }).message ?? (e as { note?: string }).note));
    // Each applied change shows on the function's one Scaled Event (created, then its count
    // bumped), from the engine's event sink, in the background.
    await waitFor(() => messages().some((m) => /from 1 to 3: step-up by alert/.test(m)), 'the Scaled event of the step-up');

    const again = await request(s.adminServer).post('/system/alert').send(fixture('firing-single'));
    expect(again.body.results[0]).toMatchObject({ reason: 'duplicate', to: 3 });

    const stored = () => JSON.parse((fake.deployment('echo')?.metadata['annotations'] as Record<string, string> | undefined)?.['alert-scaler.io/state'] ?? 'null') as { scaleDownAt: number | null } | null;
    const down = await request(s.adminServer).post('/system/alert').send(fixture('resolved-single'));
    expect(down.body.results[0]).toMatchObject({ outcome: 'unchanged', reason: 'scale-down-scheduled' });
    // Stored before the answer (no count rode with it): a gateway that died now would leave the window to the next owner.
    expect(stored()?.scaleDownAt).toEqual(expect.any(Number));
    expect(fake.replicasOf('echo')).toBe(3);
    await waitFor(() => fake.replicasOf('echo') === 1, 'scale-down to min after the window', 5000);

    // The alert state lives on the Deployment (metadata only) and each change left an Event.
    expect(stored()).toMatchObject({ scaleDownAt: null });
    await waitFor(() => messages().some((m) => /from 3 to 1/.test(m)), 'the Scaled event of the scale-down');
    expect(fake.objects('', 'events', 'openfaas-fn').map((e) => e['count'])).toEqual([2]);
  });

  it('one change is one `scale applied` line: the change cycle writes it, the provider does not write it again', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo', 'com.openfaas.scale.max': '10' } });
    const { logger, lines } = await capturingLogger();
    const s = await scaler(kubeconfig, {}, logger);
    const up = await request(s.adminServer).post('/system/alert').send(fixture('firing-single'));
    expect(up.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3 });
    const applied = lines.filter((l) => l['message'] === 'scale applied');
    expect(applied).toEqual([expect.objectContaining({ function: 'echo', from: 1, to: 3, reason: 'step-up', source: 'alert' })]);
  });

  it('a firing step makes one API call and one Scaled Event, reading nothing', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo', 'com.openfaas.scale.max': '10' } });
    const s = await scaler(kubeconfig);
    // Deployments, scales and Events only: the member and bucket Leases are renewed meanwhile.
    const calls = (): string[] =>
      fake.apiCalls().filter((c) => c.verb !== 'watch' && c.verb !== 'list' && c.resource !== 'leases').map((c) => `${c.verb} ${c.resource}${c.subresource === null ? '' : `/${c.subresource}`}`);
    const before = calls().length;
    const up = await request(s.adminServer).post('/system/alert').send(fixture('firing-single'));
    expect(up.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3 });
    // The Event is created by the engine's event sink in the background; everything else was the answer's path.
    const cycle = calls().slice(before).filter((c) => c !== 'create events');
    expect(cycle).toEqual(['patch deployments']);
    await waitFor(() => calls().slice(before).includes('create events'), 'the Scaled Event');
    expect(calls().length - before).toBe(2);
  });

  it('a Deployment without the opt-in label is refused with a reason and never written', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { app: 'echo' } });
    const s = await scaler(kubeconfig);
    const writesBefore = fake.apiCalls().filter((c) => c.method !== 'GET').length;
    const res = await request(s.adminServer).post('/system/alert').send(fixture('firing-single'));
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ outcome: 'skipped', reason: 'not-enabled' });
    expect(res.body.results[0].error).toMatch(/echo/);
    expect(fake.replicasOf('echo')).toBe(1);
    expect(fake.apiCalls().filter((c) => c.method !== 'GET').length).toBe(writesBefore);
  });

  it('two scaler instances receiving the same notification (an Alertmanager HA pair) step once', async () => {
    const { fake, kubeconfig } = await cluster();
    // One replica a step (5 % of 20), so that every round has room to step.
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo', 'com.openfaas.scale.max': '20', 'com.openfaas.scale.factor': '5' } });
    const a = await scaler(kubeconfig);
    const b = await scaler(kubeconfig);
    // The race, repeated. In every other round the clock stands still while both decide, as
    // when both take the notification in the same millisecond: they then decide the very same
    // state, and the write that lost its race must still not count as a step.
    for (let round = 0; round < 10; round++) {
      const startsAt = new Date(Date.UTC(2026, 10, 23, 19, round)).toISOString();
      const payload = forFunction({ ...fixture('firing-single'), alerts: fixture('firing-single').alerts.map((x) => ({ ...x, startsAt })) }, 'echo');
      const before = fake.replicasOf('echo') ?? 0;
      const still = round % 2 === 1 ? jest.spyOn(Date, 'now').mockReturnValue(Date.now()) : undefined;
      let answers: Array<{ status: number; body: { results: Array<{ outcome: string }> } }>;
      try {
        answers = await Promise.all([request(a.adminServer).post('/system/alert').send(payload), request(b.adminServer).post('/system/alert').send(payload)]);
      } finally {
        still?.mockRestore();
      }
      expect({ round, statuses: answers.map((r) => r.status) }).toEqual({ round, statuses: [200, 200] });
      expect({ round, outcomes: answers.map((r) => r.body.results[0]?.outcome).sort() }).toEqual({ round, outcomes: ['applied', 'unchanged'] });
      expect({ round, replicas: fake.replicasOf('echo') }).toEqual({ round, replicas: before + 1 });
    }
  });

  it('an HA pair both resetting a function to min on the same resolved notification take it to min, never below (no second removal)', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.addDeployment({ name: 'echo', replicas: 5, labels: { faas_function: 'echo', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.down.window': '0s' } });
    const ref = { name: 'echo', namespace: 'openfaas-fn' };
    const a = await scaler(kubeconfig);
    const b = await scaler(kubeconfig);
    await waitFor(() => [a, b].every((s) => s.provider.listReplicas(ref).filter((r) => r.phase === 'ready').length === 5), 'five ready replicas on both');
    const from = fake.requests.length;
    // The reset's state (nothing firing, nothing pending) is the same text whenever it is decided.
    const payload = forFunction(fixture('resolved-single'), 'echo');
    const answers = await Promise.all([request(a.adminServer).post('/system/alert').send(payload), request(b.adminServer).post('/system/alert').send(payload)]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    await waitFor(() => fake.replicasOf('echo') === 1, 'the reset to min', 5000);
    // Both drains and removals settled (a loser's failed removal puts its replicas back).
    await new Promise((r) => setTimeout(r, 1500));
    const counts = fake.requests.slice(from).filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/echo')).map((r) => (r.body as { spec?: { replicas?: number } }).spec?.replicas);
    expect(counts.filter((c) => c !== undefined && c < 1)).toEqual([]);
    expect(fake.replicasOf('echo')).toBe(1);
  });

  it('GET /system/function/<name> names the owner on every instance, and exactly one says it is this gateway', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.ensureNamespace('openfaas');
    fake.addDeployment({ name: 'echo', replicas: 1, labels: { faas_function: 'echo' } });
    const env = { ALERT_SCALER_LEASE_DURATION_SECONDS: '2', ALERT_SCALER_LEASE_RENEW_MS: '200' };
    const a = await scaler(kubeconfig, env);
    const b = await scaler(kubeconfig, env);
    let seen: Array<{ owner: string | null; ownedHere: boolean }> = [];
    await waitFor(async () => {
      seen = await Promise.all([a, b].map(async (s) => (await request(s.adminServer).get('/system/function/echo')).body as { owner: string | null; ownedHere: boolean }));
      return seen.every((x) => x.owner !== null && x.owner === seen[0]?.owner) && seen.filter((x) => x.ownedHere).length === 1;
    }, 'both instances to agree on one owner', 5000);
    expect(typeof seen[0]?.owner).toBe('string');
  });

  it('owner loss: the other instance takes over idling the function within the lease duration', async () => {
    const { fake, kubeconfig } = await cluster();
    fake.ensureNamespace('openfaas');
    fake.addDeployment({
      name: 'sleepy',
      replicas: 1,
      labels: { faas_function: 'sleepy', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1s' },
    });
    const service = await fakeService();
    const env = { ALERT_SCALER_LEASE_DURATION_SECONDS: '2', ALERT_SCALER_KUBERNETES_ROUTING: 'service', ALERT_SCALER_FUNCTION_URL_TEMPLATE: service.url };
    const a = await scaler(kubeconfig, env);
    await new Promise((r) => setTimeout(r, 300));
    const b = await scaler(kubeconfig, env);
    const downs = (s: RunningScaler) => s.engine.events.query({ function: 'sleepy' }).filter((e) => e.source === 'idler' && e.action === 'scale_down');
    const idled = (s: RunningScaler) => downs(s).length;
    // Exactly one of them idles, by its deadline: the owner.
    await waitFor(() => fake.replicasOf('sleepy') === 0, 'the owner to idle the function', 5000);
    expect([idled(a), idled(b)].sort()).toEqual([0, 1]);
    const [owner, follower] = idled(a) === 1 ? [a, b] : [b, a];

    // Called through the owner: the follower, whose own record saw no call since it started,
    // hears the wake too but must not idle; the owner idles it a zero-duration after the call.
    const calledAt = Date.now();
    const call = await request(owner.server).post('/function/sleepy').send('hi');
    expect([call.status, call.text]).toEqual([200, 'hi']);
    await waitFor(() => idled(owner) === 2 && fake.replicasOf('sleepy') === 0, 'the owner to idle it again', 5000);
    expect(idled(follower)).toBe(0);
    expect(await follower.idler.tick()).toEqual([]);
    expect((downs(owner)[1]?.time ?? 0) - calledAt).toBeGreaterThanOrEqual(1000);

    // The owner goes away; the function is woken again (from outside); the follower must idle it.
    const lostAt = Date.now();
    await owner.close();
    fake.mutateDeployment('sleepy', 'openfaas-fn', (d) => {
      (d['spec'] as { replicas: number }).replicas = 1;
    });
    await waitFor(() => idled(follower) === 1 && fake.replicasOf('sleepy') === 0, 'the follower to idle the function', 4000);
    expect(Date.now() - lostAt).toBeLessThan(2000 + 1500);
  });
});
