import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { LocalIdleSource } from '../../src/engine/idle.js';
import { PrometheusIdleSource } from '../../src/gateway/idler.js';
import { InvocationLog } from '../../src/engine/activity.js';
import { silentLogger } from '../../src/log/logger.js';
import { FakePrometheus } from '../support/fake-prometheus.js';
import { eventually } from '../support/harness.js';
import { fnRef, replicasOf, send, startZeroScaler, type ZeroScaler } from '../support/zero-harness.js';

/** How the fake Prometheus answers for one function_name. */
type Answer = { value: string } | 'empty' | 'error' | 'hang';

/** How the fake answers, per function_name in the query. */
const answers = new Map<string, Answer>();
const prometheus = new FakePrometheus((query) => {
  const answer = answers.get(/function_name="([^"]*)"/.exec(query)?.[1] ?? '') ?? 'empty';
  if (answer === 'empty') return [];
  return typeof answer === 'string' ? answer : [{ metric: {}, value: answer.value }];
});
beforeAll(() => prometheus.start());
afterAll(() => prometheus.stop());
afterEach(() => {
  prometheus.queries.length = 0;
  answers.clear();
});

const WINDOW_MS = 90_000;

/** A source whose local record saw no traffic for an hour. */
function sourceAt(options: { timeoutMs?: number } = {}) {
  let now = 3_600_000;
  const invocations = new InvocationLog(() => now, 0);
  const source = new PrometheusIdleSource(prometheus.url, new LocalIdleSource(invocations), 'openfaas-fn', silentLogger(), options.timeoutMs ?? 2000);
  return { source, invocations, advance: (ms: number) => (now += ms) };
}

describe('PrometheusIdleSource', () => {
  it.each<[string, Answer, string]>([
    ['no invocation in the window is idle', { value: '0' }, 'idle'],
    ['three invocations in the window is busy', { value: '3' }, 'busy'],
    ['a fractional increase is busy', { value: '0.4' }, 'busy'],
    ['an empty result is unknown', 'empty', 'unknown'],
    ['a value that is not a number is unknown', { value: 'NaN' }, 'unknown'],
    ['a 500 answer is unknown', 'error', 'unknown'],
  ])('%s', async (_name, answer, expected) => {
    answers.set('fn', answer);
    const { source } = sourceAt();

    expect(await source.idleness(fnRef('fn'), WINDOW_MS)).toBe(expected);

    expect(prometheus.queries).toHaveLength(1);
    expect(prometheus.queries[0]).toContain('function_name="fn"');
    expect(prometheus.queries[0]).toContain('[90s]');
    expect(prometheus.queries[0]).toContain('gateway_function_invocation_started');
  });

  it('an answer slower than the timeout is unknown', async () => {
    answers.set('fn', 'hang');
    const { source } = sourceAt({ timeoutMs: 200 });

    expect(await source.idleness(fnRef('fn'), WINDOW_MS)).toBe('unknown');
  });

  it('a function in another namespace is queried as name.namespace, with the window in whole seconds', async () => {
    answers.set('fn.team-a', { value: '0' });
    const { source } = sourceAt();

    expect(await source.idleness({ name: 'fn', namespace: 'team-a' }, 1500)).toBe('idle');

    expect(prometheus.queries[0]).toContain('function_name="fn.team-a"');
    expect(prometheus.queries[0]).toContain('[2s]');
  });

  it('a request in flight on this gateway is busy without asking Prometheus', async () => {
    answers.set('fn', { value: '0' });
    const { source, invocations } = sourceAt();
    const end = invocations.begin(fnRef('fn'));

    expect(await source.idleness(fnRef('fn'), WINDOW_MS)).toBe('busy');
    expect(prometheus.queries).toEqual([]);
    end();
  });

  it('a request this gateway finished inside the window is busy even when Prometheus has not scraped it yet', async () => {
    answers.set('fn', { value: '0' });
    const { source, invocations, advance } = sourceAt();
    invocations.begin(fnRef('fn'))();
    advance(5_000);

    expect(await source.idleness(fnRef('fn'), WINDOW_MS)).toBe('busy');

    advance(WINDOW_MS);
    expect(await source.idleness(fnRef('fn'), WINDOW_MS)).toBe('idle');
  });
});

describe('idler with Prometheus', () => {
  let scaler: ZeroScaler | undefined;
  afterEach(async () => {
    await scaler?.close();
    scaler = undefined;
  });

  it('scales to zero the function Prometheus reports idle and keeps the busy and unknown ones, asking again after the idler interval', async () => {
    const labels = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '200ms' };
    answers.set('quiet', { value: '0' });
    answers.set('loud', { value: '3' });
    answers.set('mute', 'error');
    // The idler interval is the wait before asking again after `busy` or `unknown`.
    scaler = await startZeroScaler({ quiet: { labels }, loud: { labels }, mute: { labels } }, { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '0.5', ALERT_SCALER_PROMETHEUS_URL: prometheus.url });
    const { running } = scaler;
    for (const name of ['quiet', 'loud', 'mute']) expect((await send(`${running.url}/function/${name}`, { body: name })).status).toBe(200);
    const asked = (name: string) => prometheus.queries.filter((q) => q.includes(`function_name="${name}"`) && q.includes('[1s]')).length;
    const idled = () => running.engine.events.query().filter((e) => e.source === 'idler' && e.action === 'scale_down');

    // Each deadline asked; loud and mute were asked again after the interval and still kept.
    await eventually(() => asked('loud') >= 2 && asked('mute') >= 2 && idled().length === 1, 5000);

    expect((await replicasOf(running, 'quiet')).replicas).toBe(0);
    expect((await replicasOf(running, 'loud')).replicas).toBe(1);
    expect((await replicasOf(running, 'mute')).replicas).toBe(1);
    expect(idled().map((e) => [e.function, e.reason, e.inputs['idleness']])).toEqual([['quiet', 'idle', 'idle']]);
    expect(asked('quiet')).toBe(1);

    // Once Prometheus has seen no call either, the next recheck idles it.
    answers.set('mute', { value: '0' });
    await eventually(async () => (await replicasOf(running, 'mute')).replicas === 0, 3000);
    expect(idled().map((e) => e.function)).toEqual(['quiet', 'mute']);
    expect((await replicasOf(running, 'loud')).replicas).toBe(1);
  });
});
