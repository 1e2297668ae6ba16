import { describe, expect, it } from '@jest/globals';
import { parsePolicySpec, policySettings, type PolicySpec } from '../../src/policy/spec.js';

const DEFAULTS = { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 100 };
const parse = (labels: Record<string, string>, annotations: Record<string, string> = {}) => parsePolicySpec(labels, annotations, DEFAULTS);
const L = 'com.openfaas.scale.';

describe('policy spec from labels', () => {
  it('a function without labels is rps with every default', () => {
    expect(parse({})).toEqual({
      ok: true,
      spec: { kind: 'rps', minReplicas: 1, maxReplicas: 20, maxQueueSize: 1, step: 1, maxIdleTimeMs: 120_000, minFreeWorkers: 1, target: 100, concurrency: 0, downWindowMs: 0, stableWindowMs: 60_000 },
    });
  });

  const rows: Array<[string, Record<string, string>, Partial<PolicySpec>]> = [
    ['type queue picks the queue kind', { [`${L}type`]: 'queue' }, { kind: 'queue' }],
    ['type free-workers picks the free-workers kind', { [`${L}type`]: 'free-workers' }, { kind: 'free-workers' }],
    ['type concurrency picks the concurrency kind', { [`${L}type`]: 'concurrency' }, { kind: 'concurrency' }],
    ['max-queue is max_queue_size', { [`${L}max-queue`]: '2' }, { maxQueueSize: 2 }],
    ['step is scale_up_step', { [`${L}step`]: '3' }, { step: 3 }],
    ['idle-timeout is max_idle_time, a duration', { [`${L}idle-timeout`]: '3s' }, { maxIdleTimeMs: 3_000 }],
    ['a bare idle-timeout number is seconds (EverAI writes max_idle_time=60)', { [`${L}idle-timeout`]: '60' }, { maxIdleTimeMs: 60_000 }],
    ['min-free is min_free_workers', { [`${L}min-free`]: '2' }, { minFreeWorkers: 2 }],
    ['target is the soft concurrency target', { [`${L}target`]: '7' }, { target: 7 }],
    ['a fractional target is kept', { [`${L}target`]: '0.5' }, { target: 0.5 }],
    ['without target the hard concurrency limit is the target', { [`${L}concurrency`]: '2' }, { target: 2, concurrency: 2 }],
    ['target wins over the hard limit', { [`${L}concurrency`]: '10', [`${L}target`]: '7' }, { target: 7, concurrency: 10 }],
    ['down.window is the scale-down delay', { [`${L}down.window`]: '30s' }, { downWindowMs: 30_000 }],
    ['window is the stable window (Knative window)', { [`${L}window`]: '6s' }, { stableWindowMs: 6_000 }],
    ['max 0 is the configured global ceiling (Code Engine max-scale 0)', { [`${L}max`]: '0' }, { maxReplicas: 100 }],
    ['min and max come from labels', { [`${L}min`]: '4', [`${L}max`]: '20' }, { minReplicas: 4, maxReplicas: 20 }],
    ['short label names work', { 'scale.type': 'queue', 'scale.max-queue': '5' }, { kind: 'queue', maxQueueSize: 5 }],
  ];
  it.each(rows)('%s', (_name, labels, expected) => {
    const result = parse(labels);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.spec).toMatchObject(expected);
  });

  it('labels win over annotations, which are read too', () => {
    const result = parse({ [`${L}step`]: '2' }, { [`${L}step`]: '5', [`${L}max-queue`]: '4' });
    expect(result.ok && [result.spec.step, result.spec.maxQueueSize]).toEqual([2, 4]);
  });

  it('every problem is listed, none guessed', () => {
    const result = parse({ [`${L}type`]: 'magic', [`${L}step`]: '0', [`${L}idle-timeout`]: 'soon', [`${L}target`]: '0', [`${L}max-queue`]: '-1' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.split('=')[0])).toEqual([`${L}type`, `${L}max-queue`, `${L}step`, `${L}idle-timeout`, `${L}target`]);
  });

  it('a stable window outside Knative\'s bounds (6s to 1h) is a problem', () => {
    expect(parse({ [`${L}window`]: '5s' }).ok).toBe(false);
    expect(parse({ [`${L}window`]: '2h' }).ok).toBe(false);
    expect(parse({ [`${L}window`]: '1h' }).ok).toBe(true);
  });

  it('min above max is a problem, and so is min above the ceiling that max 0 stands for', () => {
    expect(parse({ [`${L}min`]: '5', [`${L}max`]: '4' }).ok).toBe(false);
    expect(parse({ [`${L}min`]: '101', [`${L}max`]: '0' }).ok).toBe(false);
    expect(parse({ [`${L}min`]: '100', [`${L}max`]: '0' }).ok).toBe(true);
  });

  it('each kind exports the settings it uses, durations in seconds', () => {
    const result = parse({ [`${L}type`]: 'queue', [`${L}idle-timeout`]: '3s' });
    expect(result.ok && policySettings(result.spec)).toEqual({ min_replicas: 1, max_replicas: 20, max_queue_size: 1, scale_up_step: 1, max_idle_seconds: 3 });
    const concurrency = parse({ [`${L}type`]: 'concurrency', [`${L}concurrency`]: '2' });
    expect(concurrency.ok && policySettings(concurrency.spec)).toEqual({ min_replicas: 1, max_replicas: 20, target: 2, concurrency: 2, down_window_seconds: 0, stable_window_seconds: 60 });
  });
});
