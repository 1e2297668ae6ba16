import { describe, expect, it } from '@jest/globals';
import type { PolicyInput } from '../../src/policy/decision.js';
import { decide } from '../../src/policy/index.js';
import { busy, input, ready, spec, starting } from './support/rows.js';

// The EverAI free-worker example: min 1, max 5, min_free_workers 1, step 1, max_idle_time 3s.
const EVERAI = spec({
  'com.openfaas.scale.type': 'free-workers',
  'com.openfaas.scale.min': '1',
  'com.openfaas.scale.max': '5',
  'com.openfaas.scale.min-free': '1',
  'com.openfaas.scale.idle-timeout': '3s',
});

describe('free-workers policy (EverAI FreeWorkerAutoScaler)', () => {
  const rows: Array<[string, typeof EVERAI, PolicyInput, number, string, string[]]> = [
    ['one busy and none free adds one step', EVERAI, input([busy('a')]), 2, 'step-up', []],
    ['one busy and one free is settled', EVERAI, input([busy('a'), ready('b', 0)]), 2, 'unchanged', []],
    ['no step while a replica is starting', EVERAI, input([busy('a'), starting('b')]), 2, 'starting', []],
    ['a bigger step is capped by max', { ...EVERAI, step: 4 }, input([busy('a'), busy('b'), busy('c')]), 5, 'step-up', []],
    ['four busy and one free at max 5 is settled', EVERAI, input([busy('a'), busy('b'), busy('c'), busy('d'), ready('e', 0)]), 5, 'unchanged', []],
    ['five busy at max 5 stays at max', EVERAI, input([busy('a'), busy('b'), busy('c'), busy('d'), busy('e')]), 5, 'at-max', []],
    ['min_free_workers 2 wants two free', { ...EVERAI, minFreeWorkers: 2 }, input([busy('a'), ready('b', 0)]), 3, 'step-up', []],
    ['fewer than min tops up to min at once', { ...EVERAI, minReplicas: 3, step: 1 }, input([busy('a')]), 3, 'top-up-to-min', []],
    ['at 0 a waiting request wakes the function', { ...EVERAI, minReplicas: 0 }, input([], { no_replica: 1 }), 1, 'wake', []],
    ['idle removal keeps min_free_workers free', EVERAI, input([busy('a'), ready('b', 9_000), ready('c', 9_000)]), 2, 'idle', ['c']],
    ['the one free replica is kept however idle while another is busy', EVERAI, input([busy('a'), ready('b', 9_000)]), 2, 'unchanged', []],
    ['after the load, replicas idle long enough go newest first down to min', EVERAI, input([ready('a', 9_000), ready('b', 9_000), ready('c', 1_000), ready('d', 9_000)]), 1, 'idle', ['d', 'b', 'a']],
    // min 0 means the same for every kind (issue 20): back to zero once idle, and it stays there.
    ['with min 0 the last free worker goes once idle past the idle time', { ...EVERAI, minReplicas: 0 }, input([ready('a', 9_000)]), 0, 'idle', ['a']],
    ['with min 0 every replica goes once all are idle', { ...EVERAI, minReplicas: 0 }, input([ready('a', 9_000), ready('b', 9_000)]), 0, 'idle', ['b', 'a']],
    ['with min 0 a free worker used lately is kept', { ...EVERAI, minReplicas: 0 }, input([ready('a', 1_000)]), 1, 'unchanged', []],
    ['with min 0 and a busy replica the free one is kept', { ...EVERAI, minReplicas: 0 }, input([busy('a'), ready('b', 9_000)]), 2, 'unchanged', []],
    ['with min 0 at zero and nothing waiting it stays at zero', { ...EVERAI, minReplicas: 0 }, input([]), 0, 'at-zero', []],
  ];
  it.each(rows)('%s', (_name, policy, given, replicas, reason, remove) => {
    const { decision } = decide(policy, given);
    expect(decision.replicas).toBe(replicas);
    expect(decision.reason).toBe(reason);
    expect(decision.remove ?? []).toEqual(remove);
  });
});
