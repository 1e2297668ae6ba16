import { decideConcurrency, EMPTY_CONCURRENCY_MEMORY, type ConcurrencyMemory } from './concurrency.js';
import type { PolicyDecision, PolicyInput } from './decision.js';
import { decideFreeWorkers } from './free-workers.js';
import { decideQueue } from './queue.js';
import type { PolicySpec } from './spec.js';

export type { PolicyDecision, PolicyInput, QueueLengths, ReplicaRow } from './decision.js';
export { parsePolicySpec, policySettings, type PolicyKind, type PolicySpec, type SpecDefaults } from './spec.js';

/** What a function's policy remembers between decisions; only `concurrency` needs any. */
export interface PolicyMemory {
  readonly concurrency: ConcurrencyMemory;
}

export const EMPTY_POLICY_MEMORY: PolicyMemory = Object.freeze({ concurrency: EMPTY_CONCURRENCY_MEMORY });

/**
 * True for kinds driven by alerts (`rps`): their count changes on a notification, through the
 * alert step and its state, never on a load evaluation. The one place that tells them apart.
 */
export function isAlertDriven(kind: PolicySpec['kind']): boolean {
  return kind === 'rps';
}

/**
 * The one switch over policy kinds: a pure decision from the spec, the input and what the
 * kind remembers, and the memory to keep for next time. `rps` is driven by alerts, not here:
 * it answers `alert-driven` and changes nothing.
 */
export function decide(spec: PolicySpec, input: PolicyInput, memory: PolicyMemory = EMPTY_POLICY_MEMORY): { decision: PolicyDecision; memory: PolicyMemory } {
  switch (spec.kind) {
    case 'rps':
      return { decision: { replicas: input.desired, reason: 'alert-driven', inputs: { desired: input.desired } }, memory };
    case 'queue':
      return { decision: decideQueue(input, spec), memory };
    case 'free-workers':
      return { decision: decideFreeWorkers(input, spec), memory };
    case 'concurrency': {
      const { decision, memory: concurrency } = decideConcurrency(input, spec, memory.concurrency);
      return { decision, memory: { concurrency } };
    }
  }
}
