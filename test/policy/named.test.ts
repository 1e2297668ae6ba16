import { describe, expect, it } from '@jest/globals';
import { parsePolicySpec } from '../../src/policy/spec.js';
import { overlayPolicy, policyNameOf, translateNamedPolicy, type NamedPolicyDefaults } from '../../src/policy/named.js';
import { decideBounds } from '../../src/policy/bounds.js';
import type { ScalingPolicy } from '../../src/policy/labels.js';

const DEFAULTS: NamedPolicyDefaults = {
  policy: { minReplicas: 1, maxReplicas: 20, factorPercent: 20, scaleDownWindowMs: 30_000, scaleToZero: false, zeroDurationMs: 900_000, wakeTimeoutMs: 30_000 },
  spec: { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 100 },
  request: { concurrency: 0, maxQueued: 1000, requestTimeoutMs: 300_000, maxWaitMs: 30_000 },
};
const translate = (data: Record<string, string>) => translateNamedPolicy(data, DEFAULTS);
const L = 'com.openfaas.scale.';

describe('translating a named policy into labels', () => {
  const rows: Array<[string, Record<string, string>, Record<string, string>]> = [
    ['EverAI min_workers is scale.min', { min_workers: '2' }, { [`${L}min`]: '2' }],
    ['EverAI max_workers is scale.max', { max_workers: '5' }, { [`${L}max`]: '5' }],
    ['EverAI max_queue_size is scale.max-queue', { max_queue_size: '2' }, { [`${L}max-queue`]: '2' }],
    ['EverAI scale_up_step is scale.step', { scale_up_step: '3' }, { [`${L}step`]: '3' }],
    ['EverAI max_idle_time is scale.idle-timeout, a bare number in seconds', { max_idle_time: '60' }, { [`${L}idle-timeout`]: '60' }],
    ['EverAI min_free_workers is scale.min-free', { min_free_workers: '1' }, { [`${L}min-free`]: '1' }],
    ['Code Engine min-scale is scale.min', { 'min-scale': '4' }, { [`${L}min`]: '4' }],
    ['Code Engine max-scale is scale.max', { 'max-scale': '20' }, { [`${L}max`]: '20' }],
    ['Code Engine concurrency is the hard limit scale.concurrency', { concurrency: '2' }, { [`${L}concurrency`]: '2' }],
    ['Code Engine concurrency-target is scale.target', { 'concurrency-target': '1.5' }, { [`${L}target`]: '1.5' }],
    ['Code Engine request-timeout is com.openfaas.request-timeout', { 'request-timeout': '300' }, { 'com.openfaas.request-timeout': '300' }],
    ['Code Engine scale-down-delay is scale.down.window', { 'scale-down-delay': '30' }, { [`${L}down.window`]: '30' }],
    ['our long label names are taken as they are', { [`${L}type`]: 'queue' }, { [`${L}type`]: 'queue' }],
    ['our short label names become the long ones', { 'scale.type': 'free-workers', 'scale.zero': 'true' }, { [`${L}type`]: 'free-workers', [`${L}zero`]: 'true' }],
    ['a Go duration is accepted where seconds are', { max_idle_time: '2m', 'request-timeout': '90s' }, { [`${L}idle-timeout`]: '2m', 'com.openfaas.request-timeout': '90s' }],
    ['two keys setting one label to the same value agree', { min_workers: '2', 'min-scale': '2' }, { [`${L}min`]: '2' }],
  ];
  it.each(rows)('%s', (_name, data, labels) => {
    expect(translate(data)).toEqual({ labels, problems: [], keys: [] });
  });

  it('the EverAI get-start ConfigMap becomes a queue-ready spec with its five settings', () => {
    const { labels, problems } = translate({ min_workers: '1', max_workers: '5', max_queue_size: '2', scale_up_step: '1', max_idle_time: '60' });
    expect(problems).toEqual([]);
    const spec = parsePolicySpec({ ...labels, [`${L}type`]: 'queue' }, {}, DEFAULTS.spec);
    expect(spec).toMatchObject({ ok: true, spec: { kind: 'queue', minReplicas: 1, maxReplicas: 5, maxQueueSize: 2, step: 1, maxIdleTimeMs: 60_000 } });
  });

  const bad: Array<[string, Record<string, string>, string[]]> = [
    ['an unknown key is a problem naming it', { min_worker: '1' }, ['min_worker']],
    ['a value that is not a number is a problem naming its key', { min_workers: 'two' }, ['min_workers']],
    ['a negative step is a problem naming its key', { scale_up_step: '-1' }, ['scale_up_step']],
    ['a duration that is not one is a problem naming its key', { max_idle_time: 'soon' }, ['max_idle_time']],
    ['an unknown kind is a problem naming its key', { 'scale.type': 'magic' }, ['scale.type']],
    ['a policy naming another policy is refused', { [`${L}policy`]: 'other' }, [`${L}policy`]],
    ['two keys setting one label differently are a problem naming the later key', { max_workers: '5', 'max-scale': '6' }, ['max_workers']],
    ['min above max is a problem naming both keys', { min_workers: '6', max_workers: '5' }, ['max_workers', 'min_workers']],
    ['min above the default max is a problem (the policy is checked with the defaults)', { min_workers: '30' }, ['min_workers']],
    ['an empty value is a problem naming its key', { max_queue_size: '' }, ['max_queue_size']],
  ];
  it.each(bad)('%s', (_name, data, keys) => {
    const result = translate(data);
    expect([...result.keys].sort()).toEqual(keys);
    expect(result.problems.length).toBeGreaterThan(0);
    for (const key of keys) expect(result.problems.some((p) => p.includes(key))).toBe(true);
  });
});

describe('overlaying a policy on a function', () => {
  it('the policy wins over the function\'s own long and short labels; other labels stay', () => {
    const fn = { [`${L}min`]: '1', 'scale.max': '3', faas_function: 'echo', [`${L}policy`]: 'p' };
    expect(overlayPolicy(fn, { [`${L}min`]: '2', [`${L}max`]: '5' })).toEqual({ [`${L}min`]: '2', [`${L}max`]: '5', faas_function: 'echo', [`${L}policy`]: 'p' });
  });

  it('a request-timeout from the policy is kept (it has no short form)', () => {
    expect(overlayPolicy({}, { 'com.openfaas.request-timeout': '30' })).toEqual({ 'com.openfaas.request-timeout': '30' });
  });

  it('the policy name comes from the long label, the short label, then annotations', () => {
    expect(policyNameOf({ [`${L}policy`]: 'a', 'scale.policy': 'b' }, {})).toBe('a');
    expect(policyNameOf({ 'scale.policy': 'b' }, { [`${L}policy`]: 'c' })).toBe('b');
    expect(policyNameOf({}, { [`${L}policy`]: 'c' })).toBe('c');
    expect(policyNameOf({ [`${L}policy`]: ' ' }, {})).toBeUndefined();
  });
});

describe('the bounds decision after a policy change', () => {
  const policy = (min: number, max: number, zero = false): ScalingPolicy => ({ ...DEFAULTS.policy, minReplicas: min, maxReplicas: max, scaleToZero: zero });
  const state = (desired: number) => ({ desired, ready: desired, replicas: [] });
  const rows: Array<[string, number, ScalingPolicy, number, string]> = [
    ['a count below a raised min goes up to min', 1, policy(2, 5), 2, 'reset-to-min'],
    ['a count above a lowered max comes down to max', 6, policy(1, 5), 5, 'capped-at-max'],
    ['a count within the bounds stays', 3, policy(1, 5), 3, 'within-bounds'],
    ['a function parked at zero stays there', 0, policy(1, 5, true), 0, 'parked-at-zero'],
    ['a function at zero without scale-to-zero goes up to min', 0, policy(1, 5), 1, 'reset-to-min'],
  ];
  it.each(rows)('%s', (_name, desired, p, replicas, reason) => {
    expect(decideBounds({ state: state(desired), policy: p, now: 0 })).toMatchObject({ replicas, reason });
  });
});
