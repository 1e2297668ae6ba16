import { describe, expect, it } from '@jest/globals';
import type { PolicyInput } from '../../src/policy/decision.js';
import { decide } from '../../src/policy/index.js';
import { busy, input, ready, spec, starting } from './support/rows.js';

// The EverAI max-queue example: min 1, max 5, max_queue_size 2, step 1, max_idle_time 3s.
const EVERAI = spec({
  'com.openfaas.scale.type': 'queue',
  'com.openfaas.scale.min': '1',
  'com.openfaas.scale.max': '5',
  'com.openfaas.scale.max-queue': '2',
  'com.openfaas.scale.step': '1',
  'com.openfaas.scale.idle-timeout': '3s',
});
const STEP_3 = { ...EVERAI, step: 3, minReplicas: 2 };

describe('queue policy (EverAI SimpleAutoScaler)', () => {
  const rows: Array<[string, typeof EVERAI, PolicyInput, number, string, string[]]> = [
    ['fewer than min tops up to min at once, ignoring the step', STEP_3, input([]), 2, 'top-up-to-min', []],
    ['one below min tops up even while requests wait and one starts', { ...EVERAI, minReplicas: 3 }, input([busy('a'), starting('b')], { busy: 9 }), 3, 'top-up-to-min', []],
    ['at 0 with min 0 a waiting request wakes the function to 1', { ...EVERAI, minReplicas: 0 }, input([], { no_replica: 1 }), 1, 'wake', []],
    ['at 0 with min 3 a waiting request wakes it to 3', { ...EVERAI, minReplicas: 3 }, input([], { no_replica: 1 }, { desired: 0 }), 3, 'wake', []],
    ['at 0 with min 0 and nobody waiting it stays at 0', { ...EVERAI, minReplicas: 0 }, input([]), 0, 'unchanged', []],
    ['more than max_queue_size waiting busy adds one step', EVERAI, input([busy('a')], { busy: 3 }), 2, 'step-up', []],
    ['exactly max_queue_size waiting busy adds nothing', EVERAI, input([busy('a')], { busy: 2 }), 1, 'unchanged', []],
    ['requests waiting for no replica do not count as busy', EVERAI, input([starting('a')], { no_replica: 5 }, { desired: 1 }), 1, 'unchanged', []],
    ['no step while a replica is starting', EVERAI, input([busy('a'), starting('b')], { busy: 5 }), 2, 'starting', []],
    ['a replica asked for but not listed yet counts as starting', EVERAI, input([busy('a')], { busy: 5 }, { desired: 2 }), 2, 'starting', []],
    ['the step is min(step, max - replicas)', { ...STEP_3, minReplicas: 1 }, input([busy('a'), busy('b'), busy('c'), busy('d')], { busy: 9 }), 5, 'step-up', []],
    ['never above max: at max a long queue changes nothing', EVERAI, input([busy('a'), busy('b'), busy('c'), busy('d'), busy('e')], { busy: 9 }), 5, 'at-max', []],
    ['above max (max lowered) comes back to max', EVERAI, input([busy('a'), busy('b'), busy('c'), busy('d'), busy('e'), busy('f')]), 5, 'capped-at-max', []],
    ['a replica idle for max_idle_time goes', EVERAI, input([busy('a'), ready('b', 3_000)]), 1, 'idle', ['b']],
    ['a replica idle for less than max_idle_time stays', EVERAI, input([busy('a'), ready('b', 2_999)]), 2, 'unchanged', []],
    ['idle replicas go newest first, never below min', EVERAI, input([ready('a', 9_000, { createdAt: 1 }), ready('b', 9_000, { createdAt: 3 }), ready('c', 9_000, { createdAt: 2 })]), 1, 'idle', ['b', 'c']],
    ['the only replica at min stays however idle', EVERAI, input([ready('a', 999_999)]), 1, 'unchanged', []],
    ['with min 0 the last idle replica goes too', { ...EVERAI, minReplicas: 0 }, input([ready('a', 3_000)]), 0, 'idle', ['a']],
    ['a replica never used is idle since it was created', EVERAI, input([busy('a'), ready('b', 0, { lastRequestEnd: null })]), 1, 'idle', ['b']],
    ['a busy replica is never idle', EVERAI, input([busy('a'), busy('b', 1, { lastRequestEnd: 0 })]), 2, 'unchanged', []],
    ['draining and starting replicas are not chosen as idle', EVERAI, input([busy('a'), ready('b', 9_000, { draining: true }), starting('c')]), 2, 'unchanged', []],
  ];
  it.each(rows)('%s', (_name, policy, given, replicas, reason, remove) => {
    const { decision } = decide(policy, given);
    expect(decision.replicas).toBe(replicas);
    expect(decision.reason).toBe(reason);
    expect(decision.remove ?? []).toEqual(remove);
  });

  it('the decision names what it looked at', () => {
    const { decision } = decide(EVERAI, input([busy('a')], { busy: 3 }));
    expect(decision.inputs).toEqual({ desired: 1, queuedBusy: 3, maxQueueSize: 2, starting: 0 });
  });
});
