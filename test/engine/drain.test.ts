import { describe, expect, it } from '@jest/globals';
import { chooseVictims } from '../../src/engine/drain.js';
import type { ReplicaView } from '../../src/engine/replicas.js';

function replica(id: string, createdAt: number, inFlight = 0, extra: Partial<ReplicaView> = {}): ReplicaView {
  return { id, address: null, phase: 'ready', createdAt, inFlight, lastRequestStart: null, lastRequestEnd: null, served: 0, draining: false, ...extra };
}

describe('chooseVictims', () => {
  const rows: Array<[string, ReplicaView[], number, string[]]> = [
    ['idle ones go first, newest first', [replica('a', 1), replica('b', 2), replica('c', 3)], 2, ['c', 'b']],
    ['a busy one is never chosen while an idle one exists', [replica('a', 1), replica('b', 2, 1), replica('c', 3, 4)], 1, ['a']],
    ['busy ones go only when no idle one is left, fewest in flight first', [replica('a', 1, 3), replica('b', 2, 1), replica('c', 3)], 2, ['c', 'b']],
    ['equal in-flight busy ones: the newest goes', [replica('a', 1, 1), replica('b', 2, 1)], 1, ['b']],
    ['replicas already draining count toward n', [replica('a', 1), replica('b', 2, 0, { draining: true }), replica('c', 3)], 2, ['b', 'c']],
    ['a stopping replica counts too', [replica('a', 1), replica('b', 2, 0, { phase: 'stopping' })], 1, ['b']],
    ['n = 0 chooses none', [replica('a', 1)], 0, []],
    ['more than exist gives all', [replica('a', 1)], 3, ['a']],
  ];
  it.each(rows)('%s', (_name, replicas, n, expected) => {
    expect(chooseVictims(replicas, n)).toEqual(expected);
  });
});
