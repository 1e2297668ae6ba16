import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createLocalProvider } from '../../../src/bootstrap.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { LocalProvider } from '../../../src/providers/local/index.js';
import { eventually, testConfig, writeStack } from '../../support/harness.js';

/*
 * Node spawns a child synchronously (fork/exec on the event loop), so a scale-up of several
 * replicas at once held the loop for all of them: the local provider spawns one replica per
 * turn of the event loop, and what waits (a health check, a call) runs in between.
 */

const ref = { name: 'fn', namespace: 'openfaas-fn' };
let provider: LocalProvider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

describe('local provider: one spawn per turn of the event loop', () => {
  it('a scale from 0 to 6 starts its six replicas in six different turns', async () => {
    const stack = writeStack({ fn: { labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '6' } } });
    const p = (provider = createLocalProvider(testConfig(stack), silentLogger(), (path) => readFileSync(path, 'utf8')));
    await p.start();
    let turn = 0;
    let ticker: NodeJS.Immediate | undefined;
    const tick = () => {
      turn += 1;
      ticker = setImmediate(tick);
    };
    tick();
    // The turn in which each replica appeared.
    const appeared = new Map<string, number>();
    p.subscribe(() => {
      for (const r of p.listReplicas(ref)) if (!appeared.has(r.id)) appeared.set(r.id, turn);
    });
    try {
      await p.setReplicas(ref, 6);
      await eventually(() => appeared.size === 6);
    } finally {
      clearImmediate(ticker);
    }
    expect(new Set(appeared.values()).size).toBe(6);
  });
});
