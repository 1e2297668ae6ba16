import { describe, expect, it } from '@jest/globals';
import { EventLog, type EngineEvent } from '../../src/engine/events.js';
import { silentLogger } from '../../src/log/logger.js';
import { scaledEventSink } from '../../src/providers/kubernetes/event-sink.js';

const base: EngineEvent = { time: 0, function: 'echo', source: 'alert', action: 'scale_up', from: 1, to: 3, reason: 'step-up', inputs: { alertname: 'HighRate' } };

describe('the Kubernetes Scaled event sink', () => {
  it('turns only applied scale_up and scale_down decisions into Events, naming from, to, reason and source', async () => {
    const recorded: unknown[] = [];
    const log = new EventLog(10);
    log.addSink(scaledEventSink({ record: async (ref, from, to, message) => void recorded.push([ref, from, to, message]), defaultNamespace: 'openfaas-fn', logger: silentLogger() }));
    log.record(base);
    log.record({ ...base, action: 'unchanged', to: 1, reason: 'duplicate' });
    log.record({ ...base, action: 'scale_failed', reason: 'PROVIDER_UNAVAILABLE' });
    log.record({ ...base, action: 'scale_up_start', replica: 'echo-2', reason: 'starting', inputs: {} });
    log.record({ ...base, function: 'worker.team-a', source: 'idler', action: 'scale_down', from: 2, to: 0, reason: 'idle', inputs: {} });
    expect(recorded).toEqual([
      [{ name: 'echo', namespace: 'openfaas-fn' }, 1, 3, 'Scaled from 1 to 3: step-up by alert (alert HighRate)'],
      [{ name: 'worker', namespace: 'team-a' }, 2, 0, 'Scaled from 2 to 0: idle by idler'],
    ]);
  });

  it('a failing API call is logged, not raised into the change cycle', async () => {
    const log = new EventLog(10);
    let calls = 0;
    log.addSink(scaledEventSink({ record: async () => { calls += 1; throw new Error('forbidden'); }, defaultNamespace: 'openfaas-fn', logger: silentLogger() }));
    expect(() => log.record(base)).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1);
  });
  it('creates at most `concurrency` Events at once, queues the rest and drops those beyond the queue', async () => {
    const log = new EventLog(100);
    const releases: Array<() => void> = [];
    let running = 0;
    let most = 0;
    let created = 0;
    const record = (): Promise<void> => {
      running += 1;
      most = Math.max(most, running);
      return new Promise<void>((resolve) => releases.push(() => { running -= 1; created += 1; resolve(); }));
    };
    log.addSink(scaledEventSink({ record, defaultNamespace: 'openfaas-fn', logger: silentLogger(), concurrency: 2, queueLimit: 3 }));
    for (let i = 0; i < 10; i++) log.record({ ...base, to: 3 + i });
    expect(releases).toHaveLength(2);
    for (let turn = 0; turn < 20 && releases.length > 0; turn++) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(most).toBe(2);
    expect(created).toBe(5);
  });
});
