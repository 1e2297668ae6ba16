import { describe, expect, it } from '@jest/globals';
import { decideManual } from '../../src/policy/manual.js';

describe('manual scale decision', () => {
  const rows: Array<[string, number, number, number, string]> = [
    ['a count inside the range is taken as asked', 3, 10, 3, 'manual'],
    ['zero is allowed (below min too)', 0, 10, 0, 'manual'],
    ['exactly max is taken as asked', 10, 10, 10, 'manual'],
    ['above max is capped at max', 50, 10, 10, 'capped-at-max'],
  ];
  it.each(rows)('%s', (_name, requested, maxReplicas, replicas, reason) => {
    const decision = decideManual({ requested, policy: { maxReplicas } });
    expect([decision.replicas, decision.reason]).toEqual([replicas, reason]);
    expect(decision.inputs).toEqual({ requested, maxReplicas });
  });
});
