import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { chromiumDescribe, launchChromium } from '../support/chromium.js';
import { call, notification, OPERATOR_FUNCTIONS } from '../support/operator-fixture.js';

/*
 * The status page as an operator runs on it (issue 20, item 6), in Debian's Chromium against
 * a real gateway with local replicas and calls sent on 127.0.0.1: each function's kind and
 * bounds, the saturation and scaled-to-zero badges, 5xx/504 counts and p95, firing alerts and
 * holds, the 15-minute history charts, the lifecycle toggle, the events table at 1280 px and
 * the favicon.
 */

const WAIT = { timeout: 15_000 };
const LAPTOP = { width: 1280, height: 800 };
const SCREENSHOTS = join(packageRoot(), 'test-output', 'screenshots');
const describeWithChromium = chromiumDescribe('operator page test');

let s: RunningScaler;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let profile: string;
/** Every URL the page asked for: none may leave the gateway's origin. */
const requested: string[] = [];
/** Script errors on the page: none expected. */
const errors: string[] = [];

const card = (name: string) => `[data-function="${name}"]`;
const text = async (selector: string) => (await page.textContent(selector))?.trim() ?? '';

describeWithChromium('the status page an operator runs on', () => {
  beforeAll(async () => {
    s = await startTestScaler({ ...OPERATOR_FUNCTIONS, echo: { labels: { 'com.openfaas.scale.max': '4' } } }, { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' });
    profile = mkdtempSync(join(tmpdir(), 'alert-scaler-chromium-'));
    browser = await launchChromium(profile);
    context = await browser.newContext({ viewport: LAPTOP, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on('request', (r) => requested.push(r.url()));
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${s.adminUrl}/ui/`, WAIT);
    await page.waitForSelector('#connection[data-state="live"]', WAIT);
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  }, 30_000);

  it('shows each function\'s kind and bounds, and a function at zero as "scaled to zero"', async () => {
    await page.waitForSelector(`${card('busy')}[data-ready="1"]`, WAIT);
    expect(await text(`${card('busy')} [data-field="policy"]`)).toBe('queue · min 1 · max 1');
    expect(await text(`${card('zero')} [data-field="policy"]`)).toBe('rps · min 0 · max 3');
    await page.waitForSelector(`${card('zero')}[data-zero="true"] [data-field="zero"]:not([hidden])`, WAIT);
    expect(await text(`${card('zero')} [data-field="zero"]`)).toBe('scaled to zero');
    expect(await page.isHidden(`${card('busy')} [data-field="zero"]`)).toBe(true);
  }, 30_000);

  it('badges a function at max with calls still queued as saturated, and clears it when the queue empties', async () => {
    const calls = [1, 2, 3].map(() => call(`${s.url}/function/busy`));
    await page.waitForSelector(`${card('busy')}[data-saturated="true"] [data-field="saturated"]:not([hidden])`, WAIT);
    expect(await text(`${card('busy')} [data-field="saturated"]`)).toMatch(/^saturated: at max 1, [12] queued$/);
    expect(await Promise.all(calls)).toEqual([200, 200, 200]);
    await page.waitForSelector(`${card('busy')}[data-saturated="false"]`, WAIT);
    expect(await page.isHidden(`${card('busy')} [data-field="saturated"]`)).toBe(true);
  }, 30_000);

  it('shows a function\'s stored async calls on its card until they are delivered', async () => {
    expect(await text(`${card('busy')} [data-field="async"]`)).toBe('0');
    // 1.5 s a call, one at a time: the four stay stored (not yet delivered) for seconds.
    const accepted = [1, 2, 3, 4].map(() => call(`${s.url}/async-function/busy`));
    expect(await Promise.all(accepted)).toEqual([202, 202, 202, 202]);
    await page.waitForSelector(`${card('busy')} [data-field="async"]:text-matches("^[1-4]$")`, WAIT);
    await page.waitForSelector(`${card('busy')} [data-field="async"]:text-is("0")`, { timeout: 30_000 });
  }, 45_000);

  it('counts 5xx and 504 answers and shows the p95 of the last minute', async () => {
    expect([await call(`${s.url}/function/failing`), await call(`${s.url}/function/failing`), await call(`${s.url}/function/slow`)]).toEqual([500, 500, 504]);
    await page.waitForSelector(`${card('failing')} [data-field="errors"]:text-is("2")`, WAIT);
    expect(await text(`${card('failing')} [data-field="timeouts"]`)).toBe('0');
    await page.waitForSelector(`${card('slow')} [data-field="timeouts"]:text-is("1")`, WAIT);
    expect(await text(`${card('slow')} [data-field="errors"]`)).toBe('1');
    // The p95 moves at the history's 5 s step.
    await page.waitForSelector(`${card('slow')} [data-field="p95"]:text-matches("^\\\\d+ ms$")`, { timeout: 20_000 });
    const p95 = Number((await text(`${card('slow')} [data-field="p95"]`)).split(' ')[0]);
    expect(p95).toBeGreaterThanOrEqual(500);
    expect(p95).toBeLessThanOrEqual(5000);
    expect(await text(`${card('zero')} [data-field="p95"]`)).toBe('-');
  }, 40_000);

  it('shows firing alerts and holds on the card and in the detail', async () => {
    for (const body of [notification('slow'), notification('slow', 'QueueBacklog')]) expect((await request(s.adminServer).post('/system/alert').send(body)).status).toBe(200);
    await page.waitForSelector(`${card('slow')} [data-field="holds"]:not([hidden])`, WAIT);
    expect(await text(`${card('slow')} [data-field="holds"]`)).toBe('hold: QueueBacklog');
    expect(await text(`${card('slow')} [data-field="alerts"]`)).toBe('1 alert firing');
    expect(await page.isHidden(`${card('busy')} [data-field="alerts"]`)).toBe(true);
    await page.click(card('slow'));
    await page.waitForSelector('#detail[data-function="slow"]', WAIT).catch((err: unknown) => {
      throw new Error(`${String(err)}; page errors: ${errors.join('; ')}`);
    });
    expect(await text('#detail-alerts')).toBe('1 alert firing; holding scale-downs: QueueBacklog');
  }, 30_000);

  it('draws the last 15 minutes of replicas, queue and calls per second from the history', async () => {
    await page.click(card('busy'));
    await page.waitForSelector('#detail[data-function="busy"]', WAIT);
    await page.waitForSelector('#history:not([data-points="0"])', WAIT);
    expect(await page.isHidden('#history-empty')).toBe(true);
    expect(await page.getAttribute('#chart-replicas polyline.desired', 'data-max')).toBe('1');
    expect(await page.getAttribute('#chart-replicas polyline.ready', 'data-max')).toBe('1');
    expect(await page.locator('#chart-queue polyline.queue').count()).toBe(1);
    // busy's three calls finished within one of the 5 s steps: a point with a rate above 0.
    await page.waitForSelector('#chart-rate:not([data-max="0"])', { timeout: 20_000 });
    const points = Number(await page.getAttribute('#history', 'data-points'));
    expect(await page.getAttribute('#chart-rate polyline.rate', 'data-points')).toBe(String(points));
    expect(await text('#chart-replicas-max')).toBe('max 1');
  }, 40_000);

  it('fits the events table in its column at 1280 px, and hides the lifecycle rows on the toggle', async () => {
    const scaled = await request(s.adminServer).post('/system/scale-function/echo').send({ serviceName: 'echo', replicas: 3 });
    expect(scaled.status).toBe(202);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).ready === 3, 15_000);
    // A reason far longer than the column, with no place to break but anywhere.
    s.engine.events.record({ time: Date.now(), function: 'echo', source: 'api', action: 'unchanged', from: 3, to: 3, reason: `very-long-reason-${'x'.repeat(200)}`, inputs: {} });
    await page.click(card('echo'));
    await page.waitForSelector('#detail[data-function="echo"]', WAIT);
    await page.waitForSelector('#events tr[data-action="scale_up_complete"]', WAIT);
    await page.waitForSelector('#events td:text-matches("^very-long-reason")', WAIT);
    const fits = await page.evaluate<{ scroll: number; client: number; page: number; right: number }>(`(() => {
      const table = document.getElementById('events');
      const box = table.parentElement;
      return { scroll: box.scrollWidth, client: box.clientWidth, page: document.documentElement.scrollWidth, right: table.getBoundingClientRect().right };
    })()`);
    expect(fits.scroll).toBeLessThanOrEqual(fits.client);
    expect(fits.page).toBeLessThanOrEqual(LAPTOP.width);
    expect(fits.right).toBeLessThanOrEqual(LAPTOP.width);

    const rows = await page.locator('#events tbody tr').count();
    const lifecycle = '#events tr[data-action="scale_up_start"], #events tr[data-action="scale_up_complete"], #events tr[data-action="drain_start"], #events tr[data-action="scale_down_complete"]';
    const lifecycleRows = await page.locator(lifecycle).count();
    expect(lifecycleRows).toBeGreaterThanOrEqual(4);
    await page.check('#hide-lifecycle');
    expect(await page.locator(lifecycle).count()).toBe(0);
    expect(await page.locator('#events tr[data-action="scale_up"]').count()).toBeGreaterThanOrEqual(1);
    await page.uncheck('#hide-lifecycle');
    expect(await page.locator('#events tbody tr').count()).toBe(rows);
    await page.screenshot({ path: join(SCREENSHOTS, 'ui-operator.png') });
  }, 40_000);

  it('serves its favicon from the gateway and asks nothing of any other origin', async () => {
    const icon = await page.evaluate<{ href: string; status: number; type: string | null; body: string }>(`(async () => {
      const link = document.querySelector('link[rel="icon"]');
      const res = await fetch(link.href);
      return { href: link.href, status: res.status, type: res.headers.get('content-type'), body: (await res.text()).slice(0, 5) };
    })()`);
    expect(icon).toEqual({ href: `${s.adminUrl}/ui/favicon.svg`, status: 200, type: 'image/svg+xml', body: '<svg ' });
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((url) => !url.startsWith(`${s.adminUrl}/`))).toEqual([]);
    expect(errors).toEqual([]);
  });
});
