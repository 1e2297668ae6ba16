import http from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { startScaler } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/index.js';
import { systemClock } from '../../src/core/clock.js';
import { FunctionMetrics } from '../../src/gateway/function-metrics.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { MetricsRenderer, renderMetrics } from '../../src/metrics/render.js';
import { MemoryProvider } from '../../src/providers/memory/index.js';

/** Every sample of a Prometheus text: `name{labels sorted}` → value text. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}=${l[2]}`).sort();
    const key = `${m[1]}{${labels.join(',')}}`;
    expect(out.has(key)).toBe(false);
    out.set(key, m[3] ?? '');
  }
  return out;
}

/** The families of a text not from prom-client's default process metrics (those change between two reads). */
const appFamilies = (text: string): string[] => text.split('\n\n').filter((block) => !/^# HELP (process|nodejs)_/.test(block));

/** A handful of functions as the gateway leaves them: calls of several codes, queues, replicas in each state, settings. */
function seeded(): Registry {
  const registry = new Registry();
  const m = createMetrics(registry);
  const names = ['echo', 'resize.team-a', 'we"ird\\name\nline', 'idle'];
  const calls: Array<[number, number]> = [[200, 0.004], [200, 0.07], [429, 0.001], [503, 1.5], [504, 31], [200, 2.5]];
  names.forEach((name, i) => {
    const fm = new FunctionMetrics(m, name);
    for (const [code, seconds] of calls.slice(0, i === 3 ? 0 : calls.length - i)) {
      fm.begin();
      fm.end(code, seconds);
    }
    if (i === 0) fm.begin(); // one call still in flight
    m.serviceCount.set({ function_name: name }, i + 1);
    m.availableReplicas.set({ function_name: name }, i);
    m.queueLength.set({ function_name: name, reason: 'no_replica' }, i === 1 ? 3 : 0);
    m.queueLength.labels({ function_name: name, reason: 'busy' }).set(i === 2 ? 7 : 0);
    m.policySetting.set({ function_name: name, setting: 'min_replicas' }, 1);
    m.policySetting.set({ function_name: name, setting: 'scale_down_window_seconds' }, 0.25);
    m.coldStarts.inc({ function_name: name, outcome: 'ready' }, i);
    m.coldStartSeconds.observe({ function_name: name }, 0.3 * i);
  });
  // The replica gauges and the oldest wait are set at scrape time, as the scalers and the dispatcher do.
  m.beforeReplicaCollect.add(() => names.forEach((name, i) => ['starting', 'free', 'busy', 'draining'].forEach((state, j) => m.replicasByState.set({ function_name: name, state }, (i + j) % 3))));
  m.beforeCollect.add(() => names.forEach((name, i) => m.queueOldestWaitSeconds.set({ function_name: name }, i * 1.5)));
  m.gatewayInfo.set({ gateway_index: '0' }, 1);
  m.gatewayMembers.set(Number.POSITIVE_INFINITY);
  m.webhookAlerts.inc({ outcome: 'applied' }, 2);
  m.kubernetesApiThrottled.inc();
  return registry;
}

describe('renderMetrics', () => {
  it('writes the same samples as prom-client for the same state (names, labels, values)', async () => {
    const registry = seeded();
    const before = await registry.metrics();
    const after = await renderMetrics(registry, { sliceLines: 7 });
    const [a, b] = [samples(before), samples(after)];
    // prom-client's default process metrics change between two reads (values, active handles): their names must match.
    const own = (m: Map<string, string>) => [...m.keys()].filter((k) => !/^(process|nodejs)_/.test(k)).sort();
    const families = (text: string) => text.split('\n').filter((l) => l.startsWith('# '));
    expect(own(b)).toEqual(own(a));
    expect(families(after)).toEqual(families(before));
    for (const key of own(a)) expect([key, b.get(key)]).toEqual([key, a.get(key)]);
    // The gateway's series are in it (a handful checked by hand, escaping included).
    expect(b.get('gateway_function_invocation_total{code=503,function_name=resize.team-a}')).toBe('1');
    expect(b.get('gateway_functions_seconds_bucket{code=200,function_name=echo,le=0.1}')).toBe('2');
    expect(b.get('gateway_function_queue_length{function_name=we\\"ird\\\\name\\nline,reason=busy}')).toBe('7');
    expect(b.get('alert_scaler_replicas{function_name=idle,state=draining}')).toBe('0');
    expect(b.get('alert_scaler_gateway_members{}')).toBe('+Inf');
  });

  it('writes the same text as prom-client, family by family (order, HELP, TYPE, label order)', async () => {
    const registry = seeded();
    const before = appFamilies(await registry.metrics());
    const after = appFamilies(await renderMetrics(registry));
    expect(after.length).toBeGreaterThan(25);
    expect(after).toEqual(before);
    expect((await renderMetrics(registry)).endsWith('}')).toBe(false);
  });

  it('writes a metric of a kind it does not know (a Summary) through prom-client', async () => {
    const registry = new Registry();
    new Counter({ name: 'a_total', help: 'a', registers: [registry] }).inc(3);
    const { Summary } = await import('prom-client');
    new Summary({ name: 'b_seconds', help: 'b', labelNames: ['x'], registers: [registry] }).observe({ x: 'y' }, 1);
    new Gauge({ name: 'c', help: 'c', registers: [registry] });
    expect(await renderMetrics(registry)).toBe(await registry.metrics());
    // Default labels (alert-scaler sets none) and OpenMetrics: prom-client writes it all.
    registry.setDefaultLabels({ pod: 'p-1' });
    expect(await renderMetrics(registry)).toBe(await registry.metrics());
    expect(await renderMetrics(registry)).toContain('a_total{pod="p-1"} 3');
  });

  it('yields to the event loop between slices: a timer set before the render fires before it ends', async () => {
    const registry = new Registry();
    const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['function_name'], buckets: [0.1, 1], registers: [registry] });
    for (let i = 0; i < 500; i++) h.observe({ function_name: `fn-${i}` }, 0.5);
    // 500 series of 5 lines: 2,500 lines.
    const order: string[] = [];
    setImmediate(() => order.push('timer'));
    const old = registry.metrics().then(() => order.push('prom-client done'));
    await old;
    expect(order).toEqual(['prom-client done']); // the old render holds the loop to its end
    await new Promise((resolve) => setImmediate(resolve));
    order.length = 0;
    let ticks = 0;
    let running = true;
    const tick = (): void => {
      ticks += 1;
      if (running) setImmediate(tick);
    };
    setImmediate(() => order.push('timer'));
    setImmediate(tick);
    const text = await renderMetrics(registry, { sliceLines: 100 });
    running = false;
    order.push('render done');
    expect(order).toEqual(['timer', 'render done']);
    expect(ticks).toBeGreaterThanOrEqual(2500 / 100 - 1);
    expect(text).toBe(await registry.metrics());
  });

  it('shares one render between scrapes that arrive while it runs', async () => {
    const registry = new Registry();
    let collects = 0;
    new Gauge({ name: 'g', help: 'g', registers: [registry], collect: () => void (collects += 1) });
    const renderer = new MetricsRenderer(registry);
    const [a, b] = await Promise.all([renderer.render(), renderer.render()]);
    expect([a === b, collects]).toEqual([true, 1]);
    await renderer.render();
    expect(collects).toBe(2);
  });
});

describe('GET /metrics', () => {
  it('answers other requests while it renders many functions', async () => {
    const functions = 2000;
    const provider = new MemoryProvider({ clock: systemClock, functions: Array.from({ length: functions }, (_, i) => ({ name: `fn-${i}`, namespace: 'openfaas-fn', replicas: 1, labels: {} })) });
    await provider.start();
    const config = loadConfig({ PORT: '0', ALERT_SCALER_ADMIN_PORT: '0', ALERT_SCALER_HOST: '127.0.0.1', ALERT_SCALER_LOG_LEVEL: 'silent' }, () => {
      throw new Error('no config file');
    });
    const running = await startScaler(config, { provider, logger: silentLogger(), registry: new Registry() });
    try {
      for (let i = 0; i < functions; i++) {
        const fm = new FunctionMetrics(running.metrics, `fn-${i}`);
        fm.begin();
        fm.end(200, 0.01);
      }
      // 2,000 functions × (15 histogram lines and more): about 40,000 lines, 20 slices. The
      // ticks counted are those before the answer's head, i.e. while the text is rendered.
      let ticks = 0;
      let rendering = true;
      const tick = (): void => {
        ticks += 1;
        if (rendering) setImmediate(tick);
      };
      setImmediate(tick);
      let ticksWhileRendering = 0;
      const text = await new Promise<string>((resolve, reject) => {
        http.get(`${running.url}/metrics`, (res) => {
          rendering = false;
          ticksWhileRendering = ticks;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.once('end', () => resolve(body));
        }).once('error', reject);
      });
      expect(text.split('\n').length).toBeGreaterThan(30_000);
      expect(text).toContain('gateway_functions_seconds_count{function_name="fn-1999",code="200"} 1');
      expect(ticksWhileRendering).toBeGreaterThanOrEqual(10);
    } finally {
      await running.close();
    }
  });
});
