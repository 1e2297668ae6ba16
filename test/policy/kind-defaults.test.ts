import { describe, expect, it } from '@jest/globals';
import { parseRequestLimits, parseScalingPolicy } from '../../src/policy/labels.js';
import { decide } from '../../src/policy/index.js';
import { parsePolicySpec } from '../../src/policy/spec.js';
import { DEFAULT_POLICY } from '../support/policy.js';
import { NOW, spec } from './support/rows.js';

const L = 'com.openfaas.scale.';
const REQUEST = { concurrency: 0, maxQueued: 100, requestTimeoutMs: 60_000, maxWaitMs: 30_000 };
const SPEC = { minReplicas: 1, maxReplicas: 20, maxReplicasCeiling: 100 };

/** The hard limit one set of labels resolves to, as the dispatcher (request limits) and the policy (spec) each read it. */
function limits(labels: Record<string, string>, annotations: Record<string, string> = {}): { request: number; spec: number } {
  const request = parseRequestLimits(labels, annotations, REQUEST);
  const parsed = parsePolicySpec(labels, annotations, SPEC);
  if (!request.ok || !parsed.ok) throw new Error('labels did not parse');
  return { request: request.limits.concurrency, spec: parsed.spec.concurrency };
}

describe('defaults that match the kind (issue 20 item 2)', () => {
  it.each([
    ['queue', {}, 1],
    ['free-workers', {}, 1],
    ['rps', {}, 0],
    ['concurrency', {}, 0],
    ['queue with concurrency 0 set explicitly', { [`${L}concurrency`]: '0' }, 0],
    ['free-workers with concurrency 4', { [`${L}concurrency`]: '4' }, 4],
  ] as Array<[string, Record<string, string>, number]>)('%s: the hard limit is the same for the dispatcher and the policy', (name, extra, expected) => {
    const kind = name.split(' ')[0] ?? '';
    expect(limits({ [`${L}type`]: kind, ...extra })).toEqual({ request: expected, spec: expected });
  });

  it('the kind may come from the short form or an annotation', () => {
    expect(limits({ 'scale.type': 'queue' })).toEqual({ request: 1, spec: 1 });
    expect(limits({}, { [`${L}type`]: 'free-workers' })).toEqual({ request: 1, spec: 1 });
  });

  it('min 0 opts in to idle scale-to-zero for every kind, rps included; zero=false keeps a woken function up', () => {
    const zero = parseScalingPolicy({ [`${L}min`]: '0' }, {}, DEFAULT_POLICY);
    expect(zero.ok && zero.policy.scaleToZero).toBe(true);
    const kept = parseScalingPolicy({ [`${L}min`]: '0', [`${L}zero`]: 'false' }, {}, DEFAULT_POLICY);
    expect(kept.ok && kept.policy.scaleToZero).toBe(false);
    const one = parseScalingPolicy({ [`${L}min`]: '1' }, {}, DEFAULT_POLICY);
    expect(one.ok && one.policy.scaleToZero).toBe(false);
  });

  it('free-workers with min 0 at zero and nothing waiting stays at zero (it used to start a free worker at once)', () => {
    const minZero = spec({ [`${L}type`]: 'free-workers', [`${L}min`]: '0' });
    expect(decide(minZero, { replicas: [], queued: { busy: 0, no_replica: 0 }, desired: 0, now: NOW }).decision.replicas).toBe(0);
  });
});
