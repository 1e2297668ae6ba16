import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { createLocalProvider, type RunningScaler } from '../../src/bootstrap.js';
import { silentLogger } from '../../src/log/logger.js';
import type { FunctionRef, ReplicaState } from '../../src/providers/types.js';
import { DelegatingProvider } from '../support/delegating-provider.js';
import { startTestScaler, testConfig, writeStack } from '../support/harness.js';

/** A provider whose reads fail with a plain Error: a bug, not a known failure. */
class BrokenProvider extends DelegatingProvider {
  override getReplicas(_ref: FunctionRef): Promise<ReplicaState> {
    return Promise.reject(new Error('unexpected'));
  }
}

let s: RunningScaler;
beforeAll(async () => {
  const stack = writeStack({ echo: {} });
  const inner = createLocalProvider(testConfig(stack), silentLogger(), (p) => readFileSync(p, 'utf8'));
  s = await startTestScaler({ echo: {} }, {}, { provider: new BrokenProvider(inner) });
});
afterAll(async () => {
  await s.close();
});

describe('an unexpected error', () => {
  it('is a 500 INTERNAL with a JSON body, not a provider code', async () => {
    const res = await request(s.adminServer).get('/system/function/echo');
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('INTERNAL');
  });
});
