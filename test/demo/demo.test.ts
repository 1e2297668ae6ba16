import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/bootstrap.js';
import { startGateway, type RunningScaler } from '../../demo/stack.js';
import { queueSegment, wakeSegment } from '../../demo/segments.js';
import { DEMO_ENV, DEMO_TIMING, pageLines, shippedTiming, timingLines } from '../../demo/timing.js';
import { testConfig } from '../support/harness.js';

/*
 * `npm run demo`'s new lines (issue 20, item 8): the page's URL and credentials, why its timing
 * is faster than the shipped configs, and its scale-from-zero and queue-kind segments, run on
 * a real gateway with the demo's own functions.yml (those two segments need no Prometheus).
 */

const AUTH = { user: 'admin', password: 'demo' };

describe('the demo says how its timing differs from the shipped configs', () => {
  it('names each faster setting beside the shipped value it replaces, read from the shipped files', () => {
    const shipped = shippedTiming(packageRoot());
    expect(shipped).toMatchObject({ rateWindow: '20s', forDuration: '0s', repeatInterval: '1m', groupInterval: '5s' });
    expect(shipped.scaleDownWindowSeconds).toBe(testConfig('unused.yml').scaleDownWindowSeconds);
    const lines = timingLines(DEMO_TIMING, Number(DEMO_ENV['ALERT_SCALER_SCALE_DOWN_WINDOW_SECONDS']), shipped);
    expect(lines[0]).toMatch(/^timing: faster than the shipped configs/);
    expect(lines).toContain('  rate window 10s (shipped 20s): a burst crosses the threshold sooner, and a short spike is smoothed less');
    expect(lines).toContain('  Alertmanager repeat 10s (shipped 1m): a long burst steps again every 10s');
    expect(lines).toContain('  Alertmanager group interval 1s (shipped 5s): a resolve reaches the gateway sooner');
    expect(lines).toContain('  scale-down window 5s (shipped 30s): back to min sooner after the alert resolves, at the risk of flapping');
    // The demo fires as the shipped rule does: no `for` line.
    expect(lines.some((l) => l.startsWith('  for '))).toBe(false);
    expect(lines.at(-1)).toMatch(/alert-rules\/README\.md/);
  });
});

describe('the demo on a real gateway', () => {
  let gateway: RunningScaler;
  const said: string[] = [];
  const say = (line: string) => said.push(line);

  beforeAll(async () => {
    gateway = await startGateway({ stackPath: join(packageRoot(), 'demo', 'functions.yml'), basicAuth: AUTH, env: DEMO_ENV });
  }, 30_000);
  afterAll(async () => {
    await gateway?.close();
  }, 30_000);

  it('prints the page URL and credentials, and they open the page', async () => {
    const [line] = pageLines(gateway.adminUrl, AUTH);
    expect(line).toBe(`page: ${gateway.adminUrl}/ui/  (user admin, password demo): functions, alerts, the last 15 minutes, events`);
    const url = /^page: (\S+)/.exec(line ?? '')?.[1] ?? '';
    const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('admin:demo').toString('base64')}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>alert-scaler</title>');
    expect((await fetch(url)).status).toBe(401);
  });

  it('wakes sleepy from zero with one call and says how long it waited', async () => {
    expect(await wakeSegment(gateway, say)).toBe(200);
    expect(said[0]).toBe('scale from zero: sleepy has 0 replicas (scale.min 0); one call wakes it');
    expect(said[1]).toMatch(/^scale from zero: sleepy answered 200 in \d+ ms, \d+ ms of it waiting for its replica \(X-Scale-From-Zero\); back to zero after 10s idle/);
  }, 40_000);

  it('scales worker on its own queue (queue kind, no alert) and says from what to what', async () => {
    said.length = 0;
    const most = await queueSegment(gateway, say, { seconds: 6, ratePerSecond: 10 });
    expect(most).toBeGreaterThanOrEqual(2);
    expect(said[0]).toBe('policy kind queue: worker (one call at a time, 250 ms each, max 4) gets 10 calls/s for 6s; it scales on its own queue, no alert');
    expect(said[1]).toMatch(new RegExp(`^policy kind queue: worker went 1 → ${most} replicas on its queue; (\\d+) calls, responses \\{"200":\\1\\}; idle replicas go after 10s`));
  }, 60_000);
});
