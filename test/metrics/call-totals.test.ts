import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { FunctionMetrics } from '../../src/gateway/function-metrics.js';
import { CallTotalsTable } from '../../src/metrics/call-totals.js';
import { createMetrics } from '../../src/metrics/registry.js';

describe('CallTotalsTable', () => {
  it('counts calls, 5xx and 504 answers, and cumulative duration buckets (le inclusive, +Inf last)', () => {
    const table = new CallTotalsTable();
    const f = table.entry('f');
    f.add(200, 0.005);
    f.add(200, 0.02);
    f.add(502, 0.3);
    f.add(504, 60);
    const t = table.get('f');
    const at = (le: number) => t?.buckets[table.bounds.indexOf(le)];
    expect(t).toMatchObject({ calls: 4, errors5xx: 2, timeouts504: 1 });
    expect([at(0.005), at(0.01), at(0.025), at(0.5), at(30), at(Number.POSITIVE_INFINITY)]).toEqual([1, 1, 2, 3, 3, 4]);
    expect(table.bounds.at(-1)).toBe(Number.POSITIVE_INFINITY);
    expect([table.get('g'), table.calls('g'), table.calls('f')]).toEqual([undefined, 0, 4]);
  });

  it('gives a copy: a later call does not change a snapshot already read', () => {
    const table = new CallTotalsTable();
    table.entry('f').add(200, 0.1);
    const before = table.get('f');
    table.entry('f').add(200, 0.1);
    expect([before?.calls, before?.buckets.at(-1), table.get('f')?.calls]).toEqual([1, 1, 2]);
  });

  it('agrees with the Prometheus series FunctionMetrics writes for the same calls', async () => {
    const metrics = createMetrics(new Registry());
    const fm = new FunctionMetrics(metrics, 'echo.openfaas-fn');
    const calls: Array<[number, number]> = [[200, 0.004], [200, 0.07], [429, 0.001], [503, 1.5], [504, 31], [200, 2.5]];
    for (const [code, seconds] of calls) {
      fm.begin();
      fm.end(code, seconds);
    }
    const series = (await metrics.invocationTotal.get()).values.filter((v) => v.labels['function_name'] === 'echo.openfaas-fn');
    const total = series.reduce((n, v) => n + v.value, 0);
    const fives = series.filter((v) => String(v.labels['code']).startsWith('5')).reduce((n, v) => n + v.value, 0);
    const buckets = new Map<string, number>();
    for (const v of (await metrics.invocationSeconds.get()).values) {
      if (v.metricName !== 'gateway_functions_seconds_bucket' || v.labels['function_name'] !== 'echo.openfaas-fn') continue;
      const le = String((v.labels as Readonly<Record<string, string | number | undefined>>)['le']);
      buckets.set(le, (buckets.get(le) ?? 0) + v.value);
    }
    const t = metrics.callTotals.get('echo.openfaas-fn');
    expect([t?.calls, t?.errors5xx, t?.timeouts504]).toEqual([total, fives, 1]);
    expect(t?.buckets).toEqual(metrics.callTotals.bounds.map((le) => buckets.get(le === Number.POSITIVE_INFINITY ? '+Inf' : String(le))));
  });
});
