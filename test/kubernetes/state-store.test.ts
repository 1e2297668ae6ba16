/** KubernetesAlertStateStore against the fake API server: the state lives in a Deployment annotation. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { isAppError } from '../../src/errors.js';
import type { AlertState } from '../../src/policy/alert-step.js';
import { AlertSignals, noteOf } from '../../src/alerts/signals.js';
import { systemClock } from '../../src/core/clock.js';
import { createKubernetesProviderBundle, KubeApi, loadKubeConfig } from '../../src/providers/kubernetes/index.js';
import { KubernetesAlertStateStore, STATE_ANNOTATION, alertStateSchema, parseState, stateAsStored } from '../../src/providers/kubernetes/state-store.js';
import type { FakeApiServer } from './fake-api-server.js';
import { codeOf, quietLogger, startFake } from './helpers.js';

const NS = 'openfaas-fn';
const firing = (at: number): AlertState => ({ firing: { abc: at }, scaleDownAt: null, steps: { [`abc@${at}`]: at } });

describe('KubernetesAlertStateStore', () => {
  let fake: FakeApiServer;
  let close: () => Promise<void>;
  let storeA: KubernetesAlertStateStore;
  let storeB: KubernetesAlertStateStore;
  let kubeconfig: string;

  beforeAll(async () => {
    const started = await startFake({ readyDelayMs: null });
    fake = started.fake;
    close = started.close;
    kubeconfig = started.kubeconfig;
    // Two scaler instances: two clients, two stores.
    const make = (): KubernetesAlertStateStore =>
      new KubernetesAlertStateStore({ api: new KubeApi(loadKubeConfig(started.kubeconfig), 2000), namespaces: [NS], logger: quietLogger() });
    storeA = make();
    storeB = make();
  });

  afterEach(() => fake.clearFaults());
  afterAll(async () => close());

  let n = 0;
  const newFunction = (): { name: string; namespace: string } => {
    n += 1;
    fake.addDeployment({ name: `fn${n}`, replicas: 1 });
    return { name: `fn${n}`, namespace: NS };
  };

  it('nothing stored reads as empty state with a null version', async () => {
    const ref = newFunction();
    expect(await storeA.load(ref)).toEqual({ state: { firing: {}, scaleDownAt: null, steps: {} }, version: null });
  });

  it('a saved state is read back, from the annotation, by the other instance', async () => {
    const ref = newFunction();
    await storeA.save(ref, firing(1000), null);
    const loaded = await storeB.load(ref);
    expect(loaded.state).toEqual(firing(1000));
    expect(loaded.version).not.toBeNull();
    const annotations = fake.deployment(ref.name)?.metadata['annotations'] as Record<string, string>;
    expect(JSON.parse(annotations[STATE_ANNOTATION] ?? '')).toEqual(firing(1000));
  });

  it('two stores racing from the same read: exactly one save wins, the other is PROVIDER_CONFLICT', async () => {
    for (let round = 0; round < 10; round += 1) {
      const ref = newFunction();
      await storeA.save(ref, firing(1), null);
      const [a, b] = await Promise.all([storeA.load(ref), storeB.load(ref)]);
      expect(a.version).toBe(b.version);
      const results = await Promise.allSettled([storeA.save(ref, firing(2), a.version), storeB.save(ref, firing(3), b.version)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(isAppError(lost[0]?.reason, 'PROVIDER_CONFLICT')).toBe(true);
      const winner = results[0]?.status === 'fulfilled' ? firing(2) : firing(3);
      expect((await storeA.load(ref)).state).toEqual(winner);
    }
  });

  it('two first saves (nothing stored yet) race: exactly one wins', async () => {
    const ref = newFunction();
    const results = await Promise.allSettled([storeA.save(ref, firing(5), null), storeB.save(ref, firing(6), null)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('another instance writing between our read and our patch: the resourceVersion precondition refuses ours', async () => {
    const ref = newFunction();
    await storeA.save(ref, firing(1), null);
    const loaded = await storeA.load(ref);
    fake.onRequest = (r) => {
      if (r.method !== 'PATCH') return;
      fake.onRequest = undefined;
      fake.mutateDeployment(ref.name, NS, (d) => { (d.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] = JSON.stringify(firing(7)); });
    };
    expect(await codeOf(storeA.save(ref, firing(2), loaded.version))).toBe('PROVIDER_CONFLICT');
    expect((await storeB.load(ref)).state).toEqual(firing(7));
  });

  it('a save with a stale version is PROVIDER_CONFLICT', async () => {
    const ref = newFunction();
    await storeA.save(ref, firing(1), null);
    const stale = await storeA.load(ref);
    await storeB.save(ref, firing(2), (await storeB.load(ref)).version);
    expect(await codeOf(storeA.save(ref, firing(3), stale.version))).toBe('PROVIDER_CONFLICT');
    expect(await codeOf(storeA.save(ref, firing(3), null))).toBe('PROVIDER_CONFLICT');
  });

  it('a change elsewhere in the Deployment (a scale, a status update) is not a conflict', async () => {
    const ref = newFunction();
    await storeA.save(ref, firing(1), null);
    const loaded = await storeA.load(ref);
    fake.mutateDeployment(ref.name, NS, (d) => { (d['spec'] as { replicas: number }).replicas = 4; });
    await storeA.save(ref, firing(2), loaded.version);
    expect((await storeB.load(ref)).state).toEqual(firing(2));
    expect(fake.replicasOf(ref.name)).toBe(4);
  });

  it('writes only metadata, with the resourceVersion as precondition, never the spec', async () => {
    const patches = fake.apiCalls().filter((r) => r.verb === 'patch' || r.verb === 'update');
    expect(patches.length).toBeGreaterThan(0);
    for (const p of patches) {
      expect(p.resource).toBe('deployments');
      expect(p.subresource).toBeNull();
      expect(p.contentType).toBe('application/merge-patch+json');
      expect(Object.keys(p.body as object)).toEqual(['metadata']);
      expect((p.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toMatch(/^\d+$/);
    }
  });

  it('a Deployment that did not opt in is refused and not written', async () => {
    fake.addDeployment({ name: 'db', replicas: 1, labels: { app: 'db' } });
    const ref = { name: 'db', namespace: NS };
    expect(await codeOf(storeA.load(ref))).toBe('FUNCTION_NOT_ENABLED');
    expect(await codeOf(storeA.save(ref, firing(1), null))).toBe('FUNCTION_NOT_ENABLED');
    expect(fake.apiCalls().filter((r) => r.method === 'PATCH' && r.path.endsWith('/db'))).toHaveLength(0);
  });

  it('lists functions with a pending scale-down', async () => {
    const ref = newFunction();
    await storeA.save(ref, { firing: {}, scaleDownAt: 123_000, steps: {} }, null);
    expect(await storeB.listPending()).toEqual([{ ref, scaleDownAt: 123_000 }]);
  });

  it('an unreadable annotation reads as empty and is replaced by the next save', async () => {
    const ref = newFunction();
    fake.mutateDeployment(ref.name, NS, (d) => { (d.metadata['annotations'] as Record<string, string>)[STATE_ANNOTATION] = '{not json'; });
    const loaded = await storeA.load(ref);
    expect(loaded.state).toEqual({ firing: {}, scaleDownAt: null, steps: {} });
    await storeA.save(ref, firing(9), loaded.version);
    expect((await storeB.load(ref)).state).toEqual(firing(9));
  });

  it('API failures keep their codes: 500 is PROVIDER_UNAVAILABLE, 403 PROVIDER_FORBIDDEN', async () => {
    const ref = newFunction();
    fake.failNext({ method: 'PATCH', status: 500 });
    expect(await codeOf(storeA.save(ref, firing(1), null))).toBe('PROVIDER_UNAVAILABLE');
    fake.failNext({ method: 'PATCH', status: 403 });
    expect(await codeOf(storeA.save(ref, firing(1), null))).toBe('PROVIDER_FORBIDDEN');
  });

  it("a hold written through one store is seen by another gateway's guard without a GET of its own", async () => {
    const ref = newFunction();
    // Gateway A gets the hold: it stores it in the function's alert state.
    const a = new AlertSignals(systemClock, 60_000, storeA);
    const note = noteOf({ status: 'firing', fingerprint: 'h1', labels: { alertname: 'KeepWarm', scale_action: 'hold' }, annotations: {} });
    await a.note(ref, note === null ? [] : [note]);
    // Gateway B decides: its store reads through its provider's Deployment writer (the watch cache).
    const bundle = createKubernetesProviderBundle({ kubeconfig, namespaces: [NS], logger: quietLogger(), minBackoffMs: 10 });
    const storeOfB = new KubernetesAlertStateStore({ api: bundle.api, namespaces: [NS], logger: quietLogger(), writes: bundle.provider.writes });
    const b = new AlertSignals(systemClock, 60_000, storeOfB);
    await bundle.provider.start();
    try {
      // The change cycle reads the function first (from the watch cache), then asks the guard.
      const facts = await bundle.provider.getReplicas(ref);
      const gets = () => fake.apiCalls().filter((r) => r.verb === 'get' && r.resource === 'deployments').length;
      const before = gets();
      expect(await b.holding(ref)).toEqual(['KeepWarm']);
      expect(gets() - before).toBe(0);
      // The facts a watch notification carries hold the same state (the owner follows it).
      expect(storeOfB.stateIn(ref, facts.annotations)?.holds).toEqual({ h1: { name: 'KeepWarm', seen: expect.any(Number) } });
      expect(storeOfB.stateIn({ name: 'no-such-function', namespace: NS }, {})).toBeUndefined();
    } finally {
      await bundle.provider.close();
    }
  });

  it('a state stored before holds and values existed reads without them, and one with them round-trips', async () => {
    const ref = newFunction();
    await storeA.save(ref, firing(1000), null);
    const old = await storeB.load(ref);
    expect(old.state).toEqual(firing(1000));
    expect('holds' in old.state).toBe(false);
    const withSignals: AlertState = { ...firing(1000), holds: { h1: { name: 'KeepWarm', seen: 1000 } }, values: { v1: { value: 7, seen: 1000 } } };
    await storeB.save(ref, withSignals, old.version);
    const fresh = new KubernetesAlertStateStore({ api: new KubeApi(loadKubeConfig(kubeconfig), 2000), namespaces: [NS], logger: quietLogger() });
    expect((await fresh.load(ref)).state).toEqual(withSignals);
  });
});


describe('parseState', () => {
  /** What the schema alone makes of a text (undefined values dropped): the reference. */
  const bySchema = (text: string): unknown => {
    const r = alertStateSchema.safeParse(JSON.parse(text));
    if (!r.success) return undefined;
    const { holds, values, ...rest } = r.data;
    return { ...rest, ...(holds === undefined ? {} : { holds }), ...(values === undefined ? {} : { values }) };
  };
  const texts: Array<[string, string]> = [
    ['a plain state', JSON.stringify({ firing: { fp: 1 }, scaleDownAt: null, steps: { 'fp@t': 2 } })],
    ['keys in another order, extra keys dropped', JSON.stringify({ steps: {}, extra: 1, scaleDownAt: 5, firing: { b: 1, a: 2, '3': 3 } })],
    ['holds and values', JSON.stringify({ firing: {}, scaleDownAt: null, steps: {}, holds: { h: { seen: 1, name: 'n', x: 0 } }, values: { v: { value: 0, seen: 2 } } })],
    ['a negative value', JSON.stringify({ firing: {}, scaleDownAt: null, steps: {}, values: { v: { value: -1, seen: 2 } } })],
    ['holds null', JSON.stringify({ firing: {}, scaleDownAt: null, steps: {}, holds: null })],
    ['a string count', JSON.stringify({ firing: { fp: '1' }, scaleDownAt: null, steps: {} })],
    ['no scaleDownAt', JSON.stringify({ firing: {}, steps: {} })],
    ['an array', '[]'],
    ['a __proto__ key', '{"firing":{"__proto__":1,"a":2},"scaleDownAt":null,"steps":{}}'],
  ];
  it.each(texts)('reads %s as the schema does', (_name, text) => {
    const expected = bySchema(text);
    const got = parseState(text);
    expect(got).toStrictEqual(expected);
    expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
  });
});

describe('stateAsStored', () => {
  const states: Array<[string, unknown]> = [
    ['a plain state', { firing: { fp: 1 }, scaleDownAt: null, steps: { 'fp@t': 2, '10': 3 } }],
    ['holds and values, holds given as undefined', { firing: {}, scaleDownAt: 7, steps: {}, holds: undefined, values: { v: { value: 0.5, seen: 2 } } }],
    ['extra keys', { firing: {}, scaleDownAt: null, steps: {}, note: 'x', holds: { h: { name: 'n', seen: 1, extra: true } } }],
  ];
  it.each(states)('reads %s as its stored text parses', (_name, state) => {
    const expected = parseState(JSON.stringify(state));
    expect(expected).toBeDefined();
    expect(stateAsStored(state as AlertState)).toStrictEqual(expected);
  });

  const odd: Array<[string, unknown]> = [
    ['-0, which the text turns into 0', { firing: { fp: -0 }, scaleDownAt: null, steps: {} }],
    ['NaN, which the text turns into null', { firing: {}, scaleDownAt: Number.NaN, steps: {} }],
  ];
  it.each(odd)('leaves %s to the parse of the text', (_name, state) => {
    expect(stateAsStored(state as AlertState)).toBeUndefined();
  });
});
