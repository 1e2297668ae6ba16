import { describe, expect, it } from '@jest/globals';
import { VirtualClock } from '../../src/core/clock.js';
import { createEngine } from '../../src/engine/index.js';
import { attachNamedPolicies } from '../../src/engine/policy-reload.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { NamedPolicyDefaults } from '../../src/policy/named.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';
import { NamedPolicyProvider } from '../../src/engine/named-policies.js';
import { capturingLogger } from '../support/harness.js';
import { MemoryPolicySource } from '../support/named-source.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { LIMITS, NS, settle, START_MS } from './support/engine.js';

const DEFAULTS: NamedPolicyDefaults = {
  policy: DEFAULT_POLICY,
  spec: { minReplicas: DEFAULT_POLICY.minReplicas, maxReplicas: DEFAULT_POLICY.maxReplicas, maxReplicasCeiling: 100 },
  request: LIMITS,
};

async function setup(labels: Record<string, string>, policy?: Record<string, string>) {
  const clock = new VirtualClock(1_000_000);
  const { logger, lines } = await capturingLogger();
  const ref = { name: 'fn', namespace: NS };
  const memory = new MemoryProvider({ clock, defaultModel: { startMs: START_MS, stopMs: 10 }, functions: [{ ...ref, replicas: 1, labels }] });
  const source = new MemoryPolicySource();
  if (policy !== undefined) source.set(NS, 'get-start', policy);
  const provider = new NamedPolicyProvider(memory, source, { logger, defaults: DEFAULTS, defaultNamespace: NS });
  const engine = createEngine({
    provider, clock, metrics: createMetrics(), logger, defaultNamespace: NS, policyDefaults: DEFAULT_POLICY, requestDefaults: LIMITS,
    eventLogSize: 100, drainTimeoutMs: 1000, shard: { count: 1, index: 0 },
  });
  const reload = attachNamedPolicies(provider, engine, { logger, defaultNamespace: NS });
  await provider.start();
  await reload.applyAll();
  clock.advance(START_MS);
  /** Waits (no time passes) until the reload and its change cycle ran. */
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i += 1) await settle();
  };
  return { clock, memory, source, provider, engine, ref, lines, flush };
}

const POLICY = { 'com.openfaas.scale.policy': 'get-start' };

describe('named policies through the decorator and the change cycle', () => {
  it('a function naming a policy sees the policy\'s labels on top of its own', async () => {
    const { provider, ref } = await setup({ ...POLICY, 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '3' }, { min_workers: '1', max_workers: '5' });
    const state = await provider.getReplicas(ref);
    expect(state.labels).toMatchObject({ 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5' });
    expect((await provider.listFunctions())[0]?.labels['com.openfaas.scale.max']).toBe('5');
  });

  it('at start a policy whose min is above the count scales the function up to it', async () => {
    const { memory, ref } = await setup(POLICY, { min_workers: '2', max_workers: '5' });
    expect((await memory.getReplicas(ref)).desired).toBe(2);
  });

  it('an edit min_workers 1 -> 2 scales the function to 2 at once, recorded as a policy decision', async () => {
    const { memory, source, engine, ref, flush } = await setup(POLICY, { min_workers: '1', max_workers: '5' });
    expect((await memory.getReplicas(ref)).desired).toBe(1);
    source.set(NS, 'get-start', { min_workers: '2', max_workers: '5' });
    await flush();
    expect((await memory.getReplicas(ref)).desired).toBe(2);
    expect(engine.events.query().filter((e) => e.action === 'scale_up').at(-1)).toMatchObject({ source: 'policy', from: 1, to: 2, reason: 'reset-to-min' });
  });

  it('a lowered max_workers caps a function above it', async () => {
    const { memory, source, ref, flush } = await setup({ ...POLICY, 'com.openfaas.scale.max': '10' }, { max_workers: '5' });
    await memory.setReplicas(ref, 4);
    source.set(NS, 'get-start', { max_workers: '3' });
    await flush();
    expect((await memory.getReplicas(ref)).desired).toBe(3);
  });

  it('an invalid edit keeps the last good policy and says why, naming the key, in the log and the event log', async () => {
    const { memory, source, provider, engine, ref, lines, flush } = await setup(POLICY, { min_workers: '2', max_workers: '5' });
    source.set(NS, 'get-start', { min_workers: 'three', max_workers: '5' });
    await flush();
    expect((await memory.getReplicas(ref)).desired).toBe(2);
    expect((await provider.getReplicas(ref)).labels['com.openfaas.scale.min']).toBe('2');
    const warning = lines.find((l) => l['message'] === 'named policy invalid');
    expect(warning).toMatchObject({ level: 'warn', policy: 'get-start', keys: ['min_workers'] });
    const event = engine.events.query().find((e) => e.action === 'policy_invalid');
    expect(event).toMatchObject({ function: 'fn', source: 'policy', from: 2, to: 2, reason: 'kept-last-good', inputs: { policy: 'get-start', keys: ['min_workers'] } });
    expect(JSON.stringify(event?.inputs['problems'])).toContain('min_workers');
  });

  it('a good edit after an invalid one applies', async () => {
    const { memory, source, ref, flush } = await setup(POLICY, { min_workers: '1' });
    source.set(NS, 'get-start', { min_workers: 'x' });
    await flush();
    source.set(NS, 'get-start', { min_workers: '3' });
    await flush();
    expect((await memory.getReplicas(ref)).desired).toBe(3);
  });

  it('a missing policy leaves the function\'s own labels, warned once, and applies when it appears', async () => {
    const { memory, source, provider, ref, lines, flush } = await setup({ ...POLICY, 'com.openfaas.scale.min': '1' });
    await provider.getReplicas(ref);
    await provider.getReplicas(ref);
    expect(lines.filter((l) => l['message'] === 'named policy missing')).toHaveLength(1);
    expect((await provider.getReplicas(ref)).labels['com.openfaas.scale.min']).toBe('1');
    source.set(NS, 'get-start', { 'min-scale': '2' });
    await flush();
    expect((await memory.getReplicas(ref)).desired).toBe(2);
  });

  it('a removed policy gives the function back its own labels', async () => {
    const { source, provider, ref, flush } = await setup({ ...POLICY, 'com.openfaas.scale.max': '3' }, { max_workers: '5' });
    source.set(NS, 'get-start', undefined);
    await flush();
    expect((await provider.getReplicas(ref)).labels['com.openfaas.scale.max']).toBe('3');
  });

  it('a policy its source loads at start is not warned missing, and a subscriber from before start hears its labels', async () => {
    const { logger, lines } = await capturingLogger();
    const clock = new VirtualClock(1_000_000);
    const ref = { name: 'fn', namespace: NS };
    const memory = new MemoryProvider({ clock, defaultModel: { startMs: START_MS, stopMs: 10 }, functions: [{ ...ref, replicas: 1, labels: { ...POLICY, 'com.openfaas.scale.max': '3' } }] });
    const provider = new NamedPolicyProvider(memory, new MemoryPolicySource([[NS, 'get-start', { max_workers: '5' }]]), { logger, defaults: DEFAULTS, defaultNamespace: NS });
    const heard: string[] = [];
    provider.subscribe((_ref, state) => heard.push(state.labels['com.openfaas.scale.max'] ?? ''));
    await provider.start();
    expect(heard.at(-1)).toBe('5');
    expect(lines.filter((l) => l['message'] === 'named policy missing')).toEqual([]);
  });

  it('a function without the policy label is passed through untouched', async () => {
    const { provider, ref } = await setup({ 'com.openfaas.scale.max': '3' }, { max_workers: '5' });
    expect((await provider.getReplicas(ref)).labels).toEqual({ 'com.openfaas.scale.max': '3' });
  });
});
