/**
 * The policy kinds live in the gateway with the local provider and real processes (issue 10
 * acceptance): the EverAI max-queue and free-worker walk-throughs, the Code Engine example,
 * dry run and a hold alert. Each replica is test/integration/fixtures/counting-replica.mjs,
 * which answers 500 past its LIMIT of requests at once: the per-replica limit is asserted
 * inside the replicas. The policy loop ticks every second (the default).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import type { FunctionRef } from '../../src/providers/types.js';
import { eventually, startTestScaler, type TestFunction } from '../support/harness.js';
import { send, sleep, type Reply } from '../support/zero-harness.js';

const COUNTING = join(packageRoot(), 'test', 'integration', 'fixtures', 'counting-replica.mjs');
const NS = 'openfaas-fn';
const L = 'com.openfaas.scale.';
const ref = (name: string): FunctionRef => ({ name, namespace: NS });
const counting = (labels: Record<string, string>, limit: number): TestFunction => ({ command: [process.execPath, COUNTING], labels, environment: { LIMIT: String(limit) } });
const EVERAI = { [`${L}min`]: '1', [`${L}max`]: '5', [`${L}step`]: '1', [`${L}idle-timeout`]: '3s', [`${L}concurrency`]: '1' };

const functions: Record<string, TestFunction> = {
  'everai-queue': counting({ ...EVERAI, [`${L}type`]: 'queue', [`${L}max-queue`]: '2' }, 1),
  'everai-free': counting({ ...EVERAI, [`${L}type`]: 'free-workers', [`${L}min-free`]: '1' }, 1),
  // Code Engine: min-scale 4, max-scale 20, concurrency 2; a 6 s stable window and a 2 s
  // scale-down delay so that it comes back down within the test.
  'code-engine': counting({ [`${L}type`]: 'concurrency', [`${L}min`]: '4', [`${L}max`]: '20', [`${L}concurrency`]: '2', [`${L}window`]: '6s', [`${L}down.window`]: '2s' }, 2),
  dry: counting({ ...EVERAI, [`${L}type`]: 'queue', [`${L}max-queue`]: '0', [`${L}dry-run`]: 'true' }, 1),
  held: counting({ ...EVERAI, [`${L}type`]: 'queue', [`${L}idle-timeout`]: '1s' }, 1),
};

let s: RunningScaler;
/** Highest desired count each function reached, as the provider reported it. */
const maxDesired = new Map<string, number>();
beforeAll(async () => {
  s = await startTestScaler(functions, { ALERT_SCALER_DRAIN_GRACE_MS: '2000' });
  s.provider.subscribe((r, state) => maxDesired.set(r.name, Math.max(maxDesired.get(r.name) ?? 0, state.desired)));
  const want: Record<string, number> = { 'everai-queue': 1, 'everai-free': 1, 'code-engine': 4, dry: 1, held: 1 };
  for (const [name, n] of Object.entries(want)) await eventually(async () => (await s.provider.getReplicas(ref(name))).ready === n, 20_000);
}, 40_000);
afterAll(async () => {
  await s.close();
});

const desired = async (name: string) => (await s.provider.getReplicas(ref(name))).desired;
const live = (name: string) => s.engine.dispatcher.replicas(ref(name)).length;
const call = (name: string, ms: number, body: string): Promise<Reply> => send(`${s.url}/function/${name}?ms=${ms}`, { body, timeoutMs: 25_000 });
const decisions = (name: string) => s.engine.events.query({ function: name }).filter((e) => e.replica === undefined && e.source === 'policy');

/** `n` clients calling back to back for `durationMs`; every reply. */
async function clients(name: string, n: number, ms: number, durationMs: number): Promise<Reply[]> {
  const until = Date.now() + durationMs;
  const replies: Reply[] = [];
  await Promise.all(
    Array.from({ length: n }, async (_, c) => {
      for (let i = 0; Date.now() < until; i++) replies.push(await call(name, ms, `${name}-${c}-${i}`));
    }),
  );
  return replies;
}

describe('policy kinds in the gateway, local provider', () => {
  it('EverAI max-queue: a second replica comes while requests wait busy, never more than 5, back to 1 after load and idle time', async () => {
    const replies = await clients('everai-queue', 4, 200, 10_000);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.length).toBeGreaterThan(50);
    const ups = decisions('everai-queue').filter((e) => e.action === 'scale_up');
    expect(ups[0]).toMatchObject({ from: 1, to: 2, reason: 'step-up' });
    expect(ups[0]?.inputs['queuedBusy']).toBeGreaterThan(2);
    expect(maxDesired.get('everai-queue')).toBeGreaterThanOrEqual(2);
    expect(maxDesired.get('everai-queue')).toBeLessThanOrEqual(5);
    await eventually(async () => (await desired('everai-queue')) === 1 && live('everai-queue') === 1, 10_000, 100);
    const downs = decisions('everai-queue').filter((e) => e.action === 'scale_down');
    expect(downs.length).toBeGreaterThan(0);
    expect(downs.every((e) => e.reason === 'idle')).toBe(true);
  }, 30_000);

  it('EverAI free-worker: under 4 clients it settles at 4 busy + 1 free = 5, and afterwards back to 1', async () => {
    const load = clients('everai-free', 4, 300, 12_000);
    await eventually(async () => (await desired('everai-free')) === 5, 10_000, 50);
    // Settled: 5 ready replicas, the 4 clients keep 4 of them busy (between two calls a client's replica is free for a moment).
    await eventually(() => s.engine.dispatcher.replicas(ref('everai-free')).filter((r) => r.phase === 'ready').length === 5, 10_000, 50);
    let settled = false;
    await eventually(() => {
      const table = s.engine.dispatcher.replicas(ref('everai-free'));
      settled = table.filter((r) => r.inFlight > 0).length === 4 && table.filter((r) => r.inFlight === 0).length === 1;
      return settled;
    }, 5_000, 5);
    expect(settled).toBe(true);
    const replies = await load;
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(maxDesired.get('everai-free')).toBe(5);
    await eventually(async () => (await desired('everai-free')) === 1 && live('everai-free') === 1, 12_000, 100);
  }, 40_000);

  it('Code Engine: idle at 4; 60 concurrent slow requests go to 20, never more than 2 in one replica, all answered; back to 4 after the delay', async () => {
    await sleep(2_000);
    expect(await desired('code-engine')).toBe(4);
    const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => call('code-engine', 2_500, `ce-${i}`)));
    expect(replies.map((r) => r.status)).toEqual(Array.from({ length: 60 }, () => 200));
    expect(replies.map((r) => r.body.toString()).sort()).toEqual(Array.from({ length: 60 }, (_, i) => `ce-${i}`).sort());
    expect(Math.max(...replies.map((r) => Number(r.headers['x-concurrent'])))).toBeLessThanOrEqual(2);
    expect(maxDesired.get('code-engine')).toBe(20);
    await eventually(async () => (await desired('code-engine')) === 4 && live('code-engine') === 4, 15_000, 100);
    const down = decisions('code-engine').find((e) => e.action === 'scale_down');
    expect(down?.reason).toBe('scale-down');
  }, 45_000);

  it('dry run: the loop records its decisions with dryRun and nothing changes', async () => {
    const replies = await Promise.all(Array.from({ length: 3 }, (_, i) => call('dry', 1_500, `dry-${i}`)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(maxDesired.get('dry')).toBe(1);
    expect(await desired('dry')).toBe(1);
    const recorded = decisions('dry').filter((e) => e.action === 'scale_up');
    expect(recorded.length).toBeGreaterThan(0);
    expect(recorded.every((e) => e.dryRun === true && e.reason === 'step-up')).toBe(true);
  }, 15_000);

  it('a hold alert blocks the idle scale-down while it fires; it runs once the alert resolves', async () => {
    const up = await s.engine.changer.change(ref('held'), 'api', () => ({ replicas: 3, reason: 'manual' }));
    expect(up.changed).toBe(true);
    const alert = (status: 'firing' | 'resolved') => ({
      version: '4',
      status,
      alerts: [{ status, labels: { alertname: 'KeepWarm', function_name: 'held', scale_action: 'hold' }, annotations: {}, startsAt: new Date().toISOString(), fingerprint: 'keepwarm-held' }],
    });
    const post = (status: 'firing' | 'resolved') => send(`${s.adminUrl}/system/alert`, { body: JSON.stringify(alert(status)), headers: { 'content-type': 'application/json' } });
    const firing = await post('firing');
    expect(firing.status).toBe(200);
    expect(JSON.parse(firing.body.toString())).toMatchObject({ results: [{ outcome: 'unchanged', reason: 'hold' }] });
    await eventually(() => s.engine.dispatcher.replicas(ref('held')).filter((r) => r.phase === 'ready').length === 3, 10_000, 50);
    // Idle for 1 s is enough to go; held for 3 more seconds.
    await sleep(4_000);
    expect(await desired('held')).toBe(3);
    expect(s.engine.events.query({ function: 'held' }).find((e) => e.reason === 'hold')).toMatchObject({ source: 'policy', action: 'unchanged' });
    expect((await post('resolved')).status).toBe(200);
    await eventually(async () => (await desired('held')) === 1, 5_000, 50);
  }, 25_000);
});
