import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { repoRoot } from '../../demo/tools.js';
import {
  SCALE_DOWN_WINDOW_SECONDS,
  e2eTools,
  firingFunctions,
  metricValue,
  replicasOf,
  sampleReplicas,
  secondsSince,
  startE2EStack,
  startLoad,
  waitFor,
  type E2EStack,
} from './harness.js';

// Real Prometheus (1 s scrape and evaluation, rate[10s], for: 2s) and Alertmanager
// (group_wait 1s, group_interval 1s, repeat_interval 1h: one step per alert occurrence)
// driving a real gateway in this process. See test/e2e/harness.ts and demo/stack.ts.

const tools = e2eTools();
const describeWithTools = tools === null ? describe.skip : describe;

/** 20 requests/s is 4× the 5/s threshold; the bound keeps a stuck test from loading forever. */
const LOAD = { ratePerSecond: 20, maxRequests: 600 };
const SCALE_UP_TIMEOUT_MS = 20_000;
const SCALE_DOWN_TIMEOUT_MS = (SCALE_DOWN_WINDOW_SECONDS + 20) * 1000;

const timings: Record<string, number> = {};

describeWithTools('alert-driven autoscaling end to end', () => {
  let stack: E2EStack;
  const suiteStart = Date.now();

  beforeAll(async () => {
    const started = Date.now();
    stack = await startE2EStack();
    timings['stack ready (s)'] = secondsSince(started);
  }, 30_000);

  afterAll(async () => {
    await stack?.close();
    timings['suite (s)'] = secondsSince(suiteStart);
    console.info(`e2e timings: ${JSON.stringify(timings)}`);
  }, 30_000);

  it("runs the repo's own rule and routes, with only the test intervals substituted", async () => {
    const [ruleFile] = stack.monitoring.files.ruleFiles;
    const copied = load(await readFile(String(ruleFile), 'utf8')) as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
    const original = load(await readFile(join(repoRoot(), 'alert-rules/gateway.rules.yml'), 'utf8')) as typeof copied;
    const [rule] = copied.groups[0]?.rules ?? [];
    const [originalRule] = original.groups[0]?.rules ?? [];
    expect(rule?.['expr']).toBe(String(originalRule?.['expr']).replaceAll('[20s]', '[10s]').replaceAll('offset 20s', 'offset 10s'));
    expect(rule).toEqual({ ...originalRule, expr: rule?.['expr'], for: '2s' });
    const routes = load(await readFile(stack.monitoring.files.alertmanagerConfig, 'utf8')) as { route: Record<string, unknown> };
    expect(routes.route).toMatchObject({ receiver: 'scale', group_by: ['alertname', 'function_name'], repeat_interval: '1h' });
  });

  const webhookAlerts = (): Promise<number> => metricValue(stack, 'alert_scaler_webhook_alerts_total');

  it('load scales echo above min within 20 s, leaves min == max alone, and returns echo to min after the load', async () => {
    expect(await replicasOf(stack, 'echo')).toBe(1);
    expect(await replicasOf(stack, 'fixed')).toBe(2);
    const fixedSamples = sampleReplicas(stack, ['fixed']);
    const before = await webhookAlerts();
    const loadStart = Date.now();
    const echoLoad = startLoad({ url: `${stack.gateway.url}/function/echo`, ...LOAD });
    const fixedLoad = startLoad({ url: `${stack.gateway.url}/function/fixed`, ...LOAD });
    try {
      await waitFor('first firing notification', async () => ((await webhookAlerts()) > before ? true : undefined), SCALE_UP_TIMEOUT_MS, 50);
      timings['load → first firing notification (s)'] = secondsSince(loadStart);
      await waitFor('echo above min', async () => ((await replicasOf(stack, 'echo')) > 1 ? true : undefined), SCALE_UP_TIMEOUT_MS, 50);
      timings['load → echo scaled up (s)'] = secondsSince(loadStart);
      // One firing occurrence is one step of ceil(4 × 50%) = 2.
      expect(await replicasOf(stack, 'echo')).toBe(3);
      await waitFor('both functions firing', async () => ((await firingFunctions(stack)).join() === 'echo,fixed' ? true : undefined), 10_000, 100);
    } finally {
      const stats = await Promise.all([echoLoad.stop(), fixedLoad.stop()]);
      expect(stats.map((s) => s.codes['200'])).toEqual(stats.map((s) => s.sent));
    }
    const loadStop = Date.now();
    const firedBefore = await webhookAlerts();
    await waitFor('resolved notification', async () => ((await webhookAlerts()) > firedBefore ? true : undefined), SCALE_DOWN_TIMEOUT_MS, 50);
    timings['load stop → resolved notification (s)'] = secondsSince(loadStop);
    await waitFor('echo back at min', async () => ((await replicasOf(stack, 'echo')) === 1 ? true : undefined), SCALE_DOWN_TIMEOUT_MS, 50);
    timings['load stop → echo back at min (s)'] = secondsSince(loadStop);
    fixedSamples.stop();

    expect([...(fixedSamples.samples.get('fixed') ?? [])]).toEqual([2]);
    expect(stack.provider.calls.filter((call) => call.name === 'fixed')).toEqual([]);
    expect(stack.provider.calls.filter((call) => call.name === 'echo').map((call) => call.replicas)).toEqual([3, 1]);
    expect(await metricValue(stack, 'alert_scaler_scale_changes_total', { function_name: 'echo', reason: 'step-up', source: 'alert' })).toBe(1);
    expect(await metricValue(stack, 'alert_scaler_scale_changes_total', { function_name: 'echo', reason: 'reset-to-min', source: 'alert' })).toBe(1);
  }, 60_000);

  it('a 503 from the webhook makes Alertmanager retry, and the step is applied exactly once', async () => {
    expect(await replicasOf(stack, 'echo')).toBe(1);
    const callsBefore = stack.provider.calls.length;
    const stepsBefore = await metricValue(stack, 'alert_scaler_scale_changes_total', { function_name: 'echo', reason: 'step-up' });
    const unavailableBefore = await metricValue(stack, 'alert_scaler_webhook_requests_total', { code: '503' });
    stack.provider.failNext(1);
    const loadStart = Date.now();
    const load = startLoad({ url: `${stack.gateway.url}/function/echo`, ...LOAD });
    try {
      await waitFor('echo above min after the retry', async () => ((await replicasOf(stack, 'echo')) > 1 ? true : undefined), SCALE_UP_TIMEOUT_MS, 50);
      timings['fault: load → echo scaled up after retry (s)'] = secondsSince(loadStart);
      const [failed, applied] = stack.provider.calls.slice(callsBefore);
      if (failed !== undefined && applied !== undefined) timings['fault: 503 → retried step (s)'] = Math.round((applied.at - failed.at) / 100) / 10;
      // Keep the alert firing a while longer: no further notification may step again.
      await new Promise((done) => setTimeout(done, 3_000));
    } finally {
      await load.stop();
    }
    expect(stack.provider.calls.slice(callsBefore).map(({ name, replicas, ok }) => ({ name, replicas, ok }))).toEqual([
      { name: 'echo', replicas: 3, ok: false },
      { name: 'echo', replicas: 3, ok: true },
    ]);
    expect(await replicasOf(stack, 'echo')).toBe(3);
    expect((await metricValue(stack, 'alert_scaler_scale_changes_total', { function_name: 'echo', reason: 'step-up' })) - stepsBefore).toBe(1);
    expect((await metricValue(stack, 'alert_scaler_webhook_requests_total', { code: '503' })) - unavailableBefore).toBe(1);

    await waitFor('echo back at min', async () => ((await replicasOf(stack, 'echo')) === 1 ? true : undefined), SCALE_DOWN_TIMEOUT_MS, 100);
  }, 60_000);

  it("scales a function that completes only a quarter of its demand, which OpenFaaS's completed-200s rule never sees", async () => {
    expect(await replicasOf(stack, 'saturated')).toBe(1);
    const loadStart = Date.now();
    // 16 calls/s arrive (open loop); one replica completes at most 4/s (concurrency 1, 250 ms each).
    const load = startLoad({ url: `${stack.gateway.url}/function/saturated`, ratePerSecond: 16, maxRequests: 16 * 20, timeoutMs: 40_000 });
    let completedPerSecond = Number.NaN;
    try {
      await waitFor('saturated above min', async () => ((await replicasOf(stack, 'saturated')) > 1 ? true : undefined), SCALE_UP_TIMEOUT_MS, 50);
      timings['saturated: load → scaled up (s)'] = secondsSince(loadStart);
      completedPerSecond = (await metricValue(stack, 'gateway_function_invocation_total', { function_name: 'saturated', code: '200' })) / ((Date.now() - loadStart) / 1000);
      expect(await firingFunctions(stack)).toContain('saturated');
    } finally {
      const stats = await load.stop();
      // Every call got the function's answer (the queue drained onto the new replicas) or a clear status: none lost.
      expect(Object.values(stats.codes).reduce((a, b) => a + b, 0)).toBe(stats.sent);
      expect(stats.codes['error']).toBeUndefined();
    }
    // Completed 200s stayed under 5/s up to the step: OpenFaaS's rule (completed 200s > 5/s) could not have fired.
    expect(completedPerSecond).toBeLessThan(5);
    expect(await metricValue(stack, 'alert_scaler_scale_changes_total', { function_name: 'saturated', reason: 'step-up', source: 'alert' })).toBeGreaterThanOrEqual(1);
    await waitFor('saturated back at min', async () => ((await replicasOf(stack, 'saturated')) === 1 ? true : undefined), SCALE_DOWN_TIMEOUT_MS + 30_000, 100);
  }, 120_000);
});
