/** The takeover guard (src/policy/takeover.ts): a new decider lowers nothing for one window. */
import { describe, expect, it } from '@jest/globals';
import type { PolicyDecision } from '../../src/policy/decision.js';
import { SPEC_DEFAULTS, type PolicySpec } from '../../src/policy/spec.js';
import { holdAfterTakeover, takeoverWindowMs } from '../../src/policy/takeover.js';

const spec = (kind: PolicySpec['kind'], over: Partial<PolicySpec> = {}): PolicySpec => ({ kind, minReplicas: 1, maxReplicas: 10, ...SPEC_DEFAULTS, concurrency: 0, ...over });
const down: PolicyDecision = { replicas: 1, reason: 'idle', inputs: { desired: 3 } };
const up: PolicyDecision = { replicas: 5, reason: 'step-up', inputs: {} };
const removal: PolicyDecision = { replicas: 2, reason: 'idle', inputs: {}, remove: ['fn-3'] };
const takeover = { adoptedAt: 1000, until: 61_000 };

describe('takeoverWindowMs', () => {
  it.each<[string, PolicySpec, number]>([
    ['concurrency: one stable window', spec('concurrency', { stableWindowMs: 60_000 }), 60_000],
    ['concurrency: the scale-down delay when longer', spec('concurrency', { stableWindowMs: 60_000, downWindowMs: 300_000 }), 300_000],
    ['queue: the idle time after which a replica may go', spec('queue', { maxIdleTimeMs: 120_000 }), 120_000],
    ['free-workers: the same', spec('free-workers', { maxIdleTimeMs: 30_000 }), 30_000],
    ['rps: nothing (its state is stored)', spec('rps'), 0],
  ])('%s', (_name, s, ms) => {
    expect(takeoverWindowMs(s)).toBe(ms);
  });
});

describe('holdAfterTakeover', () => {
  it.each<[string, PolicyDecision, number, number, PolicyDecision['reason']]>([
    ['a scale-down inside the window is held', down, 3, 30_000, 'takeover-hold'],
    ['a per-replica removal inside the window is held', removal, 3, 30_000, 'takeover-hold'],
    ['a scale-up is never held', up, 3, 30_000, 'step-up'],
    ['a scale-down once the window has passed applies', down, 3, 61_000, 'idle'],
    ['a cut to the max (a label) applies at once', { replicas: 10, reason: 'capped', inputs: {} }, 12, 30_000, 'capped'],
  ])('%s', (_name, decision, desired, now, reason) => {
    const out = holdAfterTakeover(decision, spec('queue'), desired, now, takeover);
    expect(out.reason).toBe(reason);
    if (reason === 'takeover-hold') {
      expect(out).toEqual({ replicas: desired, reason, inputs: { ...decision.inputs, decided: decision.reason, wanted: decision.replicas, adoptedAt: 1000, holdUntil: 61_000 } });
    } else expect(out).toBe(decision);
  });

  it('without a takeover (not deciding yet) the decision stands', () => {
    expect(holdAfterTakeover(down, spec('queue'), 3, 30_000, null)).toBe(down);
  });
});
