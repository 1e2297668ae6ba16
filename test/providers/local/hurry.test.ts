import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { createLocalProvider } from '../../../src/bootstrap.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { LocalProvider } from '../../../src/providers/local/index.js';
import { Replica } from '../../../src/providers/local/replica.js';
import { eventually, testConfig, writeStack } from '../../support/harness.js';

/*
 * The dispatcher asks the provider to hurry a function for every call it queues with no
 * replica (a burst of held calls asks many times): only the first ask of a wait reaches the
 * starting replicas.
 */

const ref = { name: 'fn', namespace: 'openfaas-fn' };
let provider: LocalProvider | undefined;
afterEach(async () => {
  jest.restoreAllMocks();
  await provider?.close();
  provider = undefined;
});

describe('local provider: hurry', () => {
  it('asked three times while its two replicas start, it wakes each replica once', async () => {
    // Replicas that never listen: they stay starting for the whole test.
    const stack = writeStack({ fn: { command: ['sleep', '30'], labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '2' } } });
    const p = (provider = createLocalProvider(testConfig(stack), silentLogger(), (path) => readFileSync(path, 'utf8')));
    await p.start();
    await p.setReplicas(ref, 2);
    await eventually(() => p.listReplicas(ref).length === 2);
    const woken = jest.spyOn(Replica.prototype, 'hurry');
    p.hurry(ref);
    p.hurry(ref);
    p.hurry(ref);
    expect(woken).toHaveBeenCalledTimes(2);
    expect(p.listReplicas(ref).every((r) => r.phase === 'starting')).toBe(true);
  });
});
