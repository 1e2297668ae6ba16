/**
 * Acceptance of issue 18 items 1 and 2: three gateways as separate Node processes from the
 * same config (no count or index), on the fake API, with pods whose addresses are real local
 * servers. Leases last 2 s and are renewed every 0.5 s. Needs dist/ (`npm run build`; `npm test` builds first).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../src/providers/local/replica.js';
import { FakeApiServer } from './fake-api-server.js';
import { waitFor } from './helpers.js';
import { apiProxy, call, fakePrometheus, gaugeOf, kubeconfigFor, ownerSeen, podServers, startGateway, type Gateway } from './shard-support.js';

const LEASE_MS = 2000;
const RENEW_MS = 500;
/** Slack for process scheduling on a loaded 2-core machine. */
const SLACK_MS = 2500;

let fake: FakeApiServer;
let pods: Awaited<ReturnType<typeof podServers>>;
let prometheus: Awaited<ReturnType<typeof fakePrometheus>>;
let dir: string;
const gateways: Gateway[] = [];
const closers: Array<() => Promise<void>> = [];
/** The idle query the split-brain test holds: gateway index to pause, and the reply once it may go. */
const idle: { pauseOn: number | null; held: ((count: number) => void) | null; onHeld: (() => void) | null } = { pauseOn: null, held: null, onHeld: null };

const alive = (g: Gateway): boolean => g.child.exitCode === null && g.child.signalCode === null;
const labels = (name: string, extra: Record<string, string>): Record<string, string> => ({ faas_function: name, ...extra });

beforeAll(async () => {
  fake = await FakeApiServer.start({ readyDelayMs: 0 });
  pods = await podServers(2, 30);
  dir = await mkdtemp(join(tmpdir(), 'alert-scaler-shard-'));
  // Pod IPs are handed out in creation order from 127.0.0.2: one → .2 .3, q → .4, sb → .5, new pods after.
  fake.addDeployment({ name: 'one', replicas: 2, port: pods.port, labels: labels('one', { 'com.openfaas.scale.concurrency': '1', 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '2' }) });
  fake.addDeployment({
    name: 'q', replicas: 1, port: pods.port,
    labels: labels('q', { 'com.openfaas.scale.type': 'queue', 'com.openfaas.scale.max-queue': '1', 'com.openfaas.scale.max': '4', 'com.openfaas.scale.concurrency': '1' }),
  });
  fake.addDeployment({
    name: 'sb', replicas: 1, port: pods.port,
    labels: labels('sb', { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1s' }),
  });
  // The idler asks "Prometheus" (the stand-in): busy, except the one query the split-brain test holds.
  prometheus = await fakePrometheus((gateway, query, reply) => {
    if (idle.pauseOn === gateway && query.includes('function_name="sb"') && idle.held === null) {
      idle.held = reply;
      idle.onHeld?.();
      return;
    }
    reply(1);
  });
  for (let index = 0; index < 3; index++) {
    const proxy = await apiProxy(fake.url);
    closers.push(proxy.close);
    const kubeconfig = await kubeconfigFor(dir, `g${index}`, proxy.url);
    const env = {
      ALERT_SCALER_PROVIDER: 'kubernetes', KUBECONFIG: kubeconfig, ALERT_SCALER_LEASE_NAMESPACE: 'openfaas',
      ALERT_SCALER_LEASE_DURATION_SECONDS: String(LEASE_MS / 1000), ALERT_SCALER_LEASE_RENEW_MS: String(RENEW_MS),
      ALERT_SCALER_POLICY_INTERVAL_MS: '250', ALERT_SCALER_IDLER_INTERVAL_SECONDS: '0.5',
      ALERT_SCALER_PROMETHEUS_URL: `${prometheus.url}/g${index}/`, ALERT_SCALER_LOG_LEVEL: 'warn',
    };
    gateways.push(startGateway(index, env, { port: await freePort(), adminPort: await freePort() }, proxy.calls));
  }
  for (const g of gateways) await waitFor(async () => (await call(g.port, '/readyz', 'GET', 1000)).status === 200, `gateway ${g.index} ready`, 20_000);
  for (const g of gateways) await waitFor(async () => (await gaugeOf(g.port, 'alert_scaler_gateway_members')) === 3, `gateway ${g.index} to count 3 members`, 10_000);
}, 60_000);

afterAll(async () => {
  for (const g of gateways) {
    if (!alive(g)) continue;
    g.child.kill('SIGCONT');
    g.child.kill('SIGKILL');
  }
  await Promise.all(gateways.map((g) => (g.child.exitCode === null && g.child.signalCode === null ? new Promise((r) => g.child.once('exit', r)) : undefined)));
  for (const close of closers) await close();
  await prometheus?.close();
  await pods?.close();
  await fake?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The gateway that owns `fn`, as the gateways themselves say (exactly one says ownedHere, the others name it). */
async function ownerOf(fn: string, among: readonly Gateway[]): Promise<Gateway> {
  let found: Gateway | undefined;
  await waitFor(async () => {
    const seen = await Promise.all(among.map((g) => ownerSeen(g.adminPort, fn)));
    const here = among.filter((_g, i) => seen[i]?.ownedHere === true);
    const names = new Set(seen.map((s) => s?.owner));
    found = here.length === 1 && names.size === 1 && !names.has(null) ? here[0] : undefined;
    return found !== undefined;
  }, `one owner of ${fn} that every gateway names`, LEASE_MS + RENEW_MS + SLACK_MS);
  return found as Gateway;
}

describe('three gateways from the same config', () => {
  it('concurrency 1, two replicas, 20 concurrent calls spread over the three: no replica ever holds 2, all answered 200', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call((gateways[i % 3] as Gateway).port, '/function/one?ms=200', 'GET', 20_000)));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
    const replicas = ['127.0.0.2', '127.0.0.3'];
    expect(replicas.map((ip) => pods.max.get(ip) ?? 0)).toEqual([1, 1]);
    expect(replicas.reduce((n, ip) => n + (pods.served.get(ip) ?? 0), 0)).toBe(20);
  }, 60_000);

  it('split brain: the owner paused past its lease while deciding, another takes the bucket, resumed: its decision is not applied', async () => {
    const owner = await ownerOf('sb', gateways);
    const others = gateways.filter((g) => g !== owner);
    // The owner's next idle check of sb: it asks the stand-in Prometheus, which holds the answer and the owner is paused.
    const held = new Promise<void>((resolve) => (idle.onHeld = resolve));
    idle.pauseOn = owner.index;
    await held;
    owner.child.kill('SIGSTOP');
    const pausedAt = Date.now();
    try {
      // Past its lease, another gateway takes the bucket and says so.
      const next = await ownerOf('sb', others);
      expect(next).not.toBe(owner);
      expect(Date.now() - pausedAt).toBeLessThan(LEASE_MS + RENEW_MS + SLACK_MS);
      process.stdout.write(`SIGSTOP: another gateway owns sb ${Date.now() - pausedAt} ms after the pause\n`);
    } finally {
      owner.child.kill('SIGCONT');
    }
    // Resumed: the held answer says idle, so its pending idle decision (scale sb to 0) goes on after the await.
    await new Promise((r) => setTimeout(r, 100));
    idle.pauseOn = null;
    idle.held?.(0);
    const writes = () => owner.calls.filter((c) => c.at >= pausedAt && c.method !== 'GET' && c.path.includes('/deployments/sb'));
    const fenced = () => owner.stderr.some((l) => l.includes('no longer owns function sb'));
    await waitFor(() => fenced() || writes().length > 0, 'the paused gateway\'s decision to be made', 5000);
    await new Promise((r) => setTimeout(r, 1000));
    // The fake API's record of the paused gateway's calls: no write to sb since the pause, and sb still runs.
    expect(writes()).toEqual([]);
    expect(fake.replicasOf('sb')).toBe(1);
    // The decision was made, and stopped by the fence.
    expect(fenced()).toBe(true);
  }, 60_000);

  it('kill one gateway: within lease time the others count 2 and take its buckets; its queue-kind function keeps scaling, no call fails', async () => {
    const victim = await ownerOf('q', gateways);
    const survivors = gateways.filter((g) => g !== victim);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    for (const g of survivors) await waitFor(async () => (await gaugeOf(g.port, 'alert_scaler_gateway_members')) === 2, `gateway ${g.index} to count 2`, LEASE_MS + RENEW_MS + SLACK_MS);
    const countedAt = Date.now();
    const next = await ownerOf('q', survivors);
    expect(survivors).toContain(next);
    const movedAt = Date.now();
    expect(movedAt - killedAt).toBeLessThan(LEASE_MS + RENEW_MS + SLACK_MS);
    process.stdout.write(`SIGKILL: both survivors count 2 after ${countedAt - killedAt} ms, q's bucket owned by a survivor after ${movedAt - killedAt} ms (lease ${LEASE_MS} ms, renew ${RENEW_MS} ms)\n`);
    // Load through the survivors only: 8 calls of 1.5 s on one replica of concurrency 1 queue up; the new owner adds replicas.
    const before = fake.replicasOf('q') ?? 0;
    const q = Promise.all(Array.from({ length: 8 }, (_, i) => call((survivors[i % 2] as Gateway).port, '/function/q?ms=1500')));
    const one = Promise.all(Array.from({ length: 10 }, (_, i) => call((survivors[i % 2] as Gateway).port, '/function/one?ms=100')));
    await waitFor(() => (fake.replicasOf('q') ?? 0) > before, 'the new owner to scale q up', 10_000);
    const results = [...(await q), ...(await one)];
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(['127.0.0.2', '127.0.0.3'].map((ip) => pods.max.get(ip) ?? 0)).toEqual([1, 1]);
  }, 60_000);
});
