import { describe, expect, it } from '@jest/globals';
import { decideIdle, type IdleInput } from '../../src/policy/idle.js';

const BASE: IdleInput = {
  current: 1,
  policy: { scaleToZero: true, zeroDurationMs: 300_000 },
  idleness: 'idle',
  inFlight: 0,
  activitySince: false,
  idleMs: 400_000,
};

describe('idle decision', () => {
  const rows: Array<[string, Partial<IdleInput>, number, string]> = [
    ['an opted-in function idle for its window goes to zero', {}, 0, 'idle'],
    ['several replicas go to zero together', { current: 4 }, 0, 'idle'],
    ['a function that did not opt in stays', { policy: { scaleToZero: false, zeroDurationMs: 300_000 } }, 1, 'not-opted-in'],
    ['a function at zero stays at zero', { current: 0 }, 0, 'at-zero'],
    ['a call in flight keeps it', { inFlight: 1 }, 1, 'in-flight'],
    ['a call since the measure keeps it', { activitySince: true }, 1, 'recent-activity'],
    ['traffic inside the window keeps it', { idleness: 'busy' }, 1, 'busy'],
    ['an unknown idleness never scales to zero', { idleness: 'unknown' }, 1, 'idleness-unknown'],
    ['in flight wins over an idle measure', { inFlight: 2, idleness: 'idle' }, 1, 'in-flight'],
  ];
  it.each(rows)('%s', (_name, change, replicas, reason) => {
    const decision = decideIdle({ ...BASE, ...change });
    expect([decision.replicas, decision.reason]).toEqual([replicas, reason]);
  });

  it('names what it looked at in its inputs', () => {
    expect(decideIdle(BASE).inputs).toEqual({ idleness: 'idle', inFlight: 0, idleMs: 400_000, zeroDurationMs: 300_000 });
  });
});
