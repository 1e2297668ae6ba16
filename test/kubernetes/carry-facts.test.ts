import { describe, expect, it } from '@jest/globals';
import { carryFacts, factsOf } from '../../src/providers/kubernetes/informer.js';

describe('carryFacts', () => {
  const deployment = (rv: string, labels: Record<string, string>, state: string) => ({
    metadata: { name: 'fn', namespace: 'ns', uid: 'u', resourceVersion: rv, labels, annotations: { 'com.openfaas.scale.max': '3', 'alert-scaler.io/state': state } },
    spec: { replicas: 1 },
    status: { availableReplicas: 1 },
  });

  it('keeps the previous labels and annotations objects when they are equal, and the new facts otherwise', () => {
    const before = factsOf(deployment('1', { faas_function: 'fn' }, 'a'));
    const next = factsOf(deployment('2', { faas_function: 'fn' }, 'b'));
    const carried = carryFacts(before, next);
    expect(carried).toEqual(next);
    expect(carried.labels).toBe(before.labels);
    expect(carried.annotations).toBe(before.annotations);
    expect(carried.alertState).toBe('b');

    const relabelled = factsOf(deployment('3', { faas_function: 'fn', team: 'x' }, 'b'));
    const moved = carryFacts(carried, relabelled);
    expect(moved.labels).toBe(relabelled.labels);
    expect(moved.annotations).toBe(before.annotations);
  });
});
