import { describe, expect, it, jest } from '@jest/globals';
import { gauge } from './support/engine.js';
import { policyEngine } from './support/policy-loop.js';

const L = 'com.openfaas.scale.';

describe('scrape-time gauges', () => {
  it('a scrape sets only the replica-state and oldest-wait values that changed since the last one', async () => {
    const e = await policyEngine({ [`${L}type`]: 'free-workers', [`${L}min`]: '2', [`${L}max`]: '5', [`${L}min-free`]: '1', [`${L}concurrency`]: '1' }, 2);
    e.scalers.start();
    await e.clock.run(2_000);
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'free' })).toBe(2);
    expect(await gauge(e.metrics, 'gateway_function_queue_oldest_wait_seconds', { function_name: 'fn' })).toBe(0);
    const states = jest.spyOn(e.metrics.replicasByState, 'set');
    const oldest = jest.spyOn(e.metrics.queueOldestWaitSeconds, 'set');
    // Nothing changed: a scrape sets nothing (it used to set 4 + 1 series per function, every scrape).
    await e.metrics.registry.metrics();
    expect([states.mock.calls.length, oldest.mock.calls.length]).toEqual([0, 0]);
    // One replica busy: the two counts that moved are set, and read right.
    const load = e.clients(1, 1_000, 500);
    await e.clock.run(100);
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'busy' })).toBe(1);
    expect(await gauge(e.metrics, 'alert_scaler_replicas', { function_name: 'fn', state: 'free' })).toBe(1);
    expect(states.mock.calls.map((c) => (c[0] as unknown as { state: string }).state).sort()).toEqual(['busy', 'free']);
    await e.clock.run(2_000);
    await load;
    e.scalers.stop();
  });
});
