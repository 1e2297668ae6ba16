import { readFileSync } from 'node:fs';
import { createLocalProvider } from '../../src/bootstrap.js';
import { silentLogger } from '../../src/log/logger.js';
import { testConfig, writeStack } from '../support/harness.js';
import { runProviderContract } from './contract.js';

runProviderContract('local', async () => {
  const stack = writeStack({ fn: { labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '5' } } });
  const provider = createLocalProvider(testConfig(stack, { ALERT_SCALER_DRAIN_GRACE_MS: '2000' }), silentLogger(), (p) => readFileSync(p, 'utf8'));
  return {
    provider,
    ref: { name: 'fn', namespace: 'openfaas-fn' },
    unknownRef: { name: 'nope', namespace: 'openfaas-fn' },
    close: () => provider.close(),
  };
});
