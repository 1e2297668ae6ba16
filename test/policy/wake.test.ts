import { describe, expect, it } from '@jest/globals';
import { decideWake } from '../../src/policy/wake.js';
import { DEFAULT_POLICY } from '../support/policy.js';

describe('decideWake', () => {
  const rows: Array<[string, number, number, number, string]> = [
    ['a function at zero with min 0 wakes to one replica', 0, 0, 1, 'wake'],
    ['a function at zero with min 3 wakes to three replicas', 0, 3, 3, 'wake'],
    ['a function at zero with min 1 wakes to one replica', 0, 1, 1, 'wake'],
    ['a function that already wants one replica stays at one', 1, 0, 1, 'awake'],
    ['a function that wants four replicas stays at four, even below min', 4, 6, 4, 'awake'],
  ];
  it.each(rows)('%s', (_name, desired, minReplicas, replicas, reason) => {
    const decision = decideWake({ state: { desired, ready: 0, replicas: [] }, policy: { ...DEFAULT_POLICY, minReplicas, maxReplicas: 10 }, now: 0 });
    expect(decision.replicas).toBe(replicas);
    expect(decision.reason).toBe(reason);
  });

  it('does not depend on the time', () => {
    const input = { state: { desired: 0, ready: 0, replicas: [] }, policy: DEFAULT_POLICY };
    expect(decideWake({ ...input, now: 0 })).toEqual(decideWake({ ...input, now: 9_999_999 }));
  });
});
