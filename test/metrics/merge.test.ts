import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { mergeMetricTexts } from '../../src/metrics/merge.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { renderMetrics } from '../../src/metrics/render.js';

/** The value of the sample `key` (name and labels as written) in a Prometheus text. */
const sample = (text: string, key: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
};

/** A worker's metrics: `calls` answered 200 for `fn`, `inflight` now, `desired` replicas seen. */
async function worker(calls: number, inflight: number, desired: number, fn = 'echo'): Promise<string> {
  const metrics = createMetrics(new Registry());
  for (let i = 0; i < calls; i++) {
    metrics.invocationTotal.inc({ function_name: fn, code: '200' });
    metrics.invocationSeconds.observe({ function_name: fn, code: '200' }, 0.02);
  }
  metrics.inflight.set({ function_name: fn }, inflight);
  metrics.serviceCount.set({ function_name: fn }, desired);
  metrics.gatewayMembers.set(2);
  return renderMetrics(metrics.registry);
}

describe('mergeMetricTexts', () => {
  it('counters and histograms are summed, per-process gauges summed, cluster facts the largest', async () => {
    const merged = mergeMetricTexts([await worker(3, 1, 2), await worker(4, 2, 3)]);
    expect(sample(merged, 'gateway_function_invocation_total{function_name="echo",code="200"}')).toBe(7);
    expect(sample(merged, 'gateway_functions_seconds_count{function_name="echo",code="200"}')).toBe(7);
    expect(sample(merged, 'gateway_functions_seconds_bucket{le="0.025",function_name="echo",code="200"}')).toBe(7);
    expect(sample(merged, 'gateway_function_invocation_inflight{function_name="echo"}')).toBe(3);
    expect(sample(merged, 'gateway_service_count{function_name="echo"}')).toBe(3);
    expect(sample(merged, 'alert_scaler_gateway_members')).toBe(2);
  });

  it('a series only one worker has is its value; each family keeps one HELP and one TYPE line', async () => {
    const merged = mergeMetricTexts([await worker(3, 0, 1, 'a'), await worker(5, 0, 1, 'b')]);
    expect(sample(merged, 'gateway_function_invocation_total{function_name="a",code="200"}')).toBe(3);
    expect(sample(merged, 'gateway_function_invocation_total{function_name="b",code="200"}')).toBe(5);
    expect(merged.split('\n').filter((l) => l === '# TYPE gateway_function_invocation_total counter')).toHaveLength(1);
    expect(merged.split('\n').filter((l) => l.startsWith('# HELP gateway_function_invocation_total '))).toHaveLength(1);
  });

  it('one worker\'s text comes back sample for sample', async () => {
    const text = await worker(2, 1, 1);
    const lines = (t: string) => t.split('\n').filter((l) => l !== '');
    expect(lines(mergeMetricTexts([text]))).toEqual(lines(text));
  });

  it('the async queue gauge is summed over embedded stores, the largest on a shared NATS stream', () => {
    const text = (n: number) => `# HELP gateway_function_async_queue_length q\n# TYPE gateway_function_async_queue_length gauge\ngateway_function_async_queue_length{function_name="f"} ${n}\n`;
    expect(sample(mergeMetricTexts([text(2), text(5)]), 'gateway_function_async_queue_length{function_name="f"}')).toBe(7);
    expect(sample(mergeMetricTexts([text(2), text(5)], { sharedAsyncQueue: true }), 'gateway_function_async_queue_length{function_name="f"}')).toBe(5);
  });
});
