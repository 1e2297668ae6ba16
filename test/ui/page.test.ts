import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import request from 'supertest';
import { packageRoot, type RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { chromiumDescribe, launchChromium } from '../support/chromium.js';

/*
 * The acceptance test of /ui/ in a real browser: Debian's Chromium (never a downloaded one),
 * headless, driven by playwright-core, against a real gateway with basic auth on.
 * Screenshots go to test-output/screenshots/ (the README names it; docs/screenshots/ holds
 * the committed copies the README shows, so a test run never dirties the tree).
 */

const AUTH = { user: 'admin', password: 'ui-test-password' };
const SCREENSHOTS = join(packageRoot(), 'test-output', 'screenshots');
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const WAIT = { timeout: 10_000 };
/** A label value that would run script if the page ever put it into markup. */
const HOSTILE = '<img src=x onerror="window.__xss=1">';
/** A function whose answer redirects its caller's POST to the admin API (307 keeps method and body). */
const REDIRECT_SOURCE = `
import http from 'node:http';
http.createServer((req, res) => {
  if (req.url === '/_/health') { res.end('OK'); return; }
  req.resume();
  req.on('end', () => { res.writeHead(307, { location: '/system/scale-function/echo' }); res.end(); });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;
const firing = JSON.parse(readFileSync(join(packageRoot(), 'examples', 'alerts', 'firing-single.json'), 'utf8')) as object;

const describeWithChromium = chromiumDescribe('status page browser suite');

let s: RunningScaler;
let browser: Browser;
let profile: string;
const contexts: BrowserContext[] = [];

async function open(viewport: { width: number; height: number }, credentials = true): Promise<Page> {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    isMobile: viewport.width < 600,
    ...(credentials ? { httpCredentials: { username: AUTH.user, password: AUTH.password } } : {}),
  });
  contexts.push(context);
  return context.newPage();
}

const card = (name: string) => `[data-function="${name}"]`;

describeWithChromium('the status page at /ui/', () => {
  beforeAll(async () => {
    const sources = mkdtempSync(join(tmpdir(), 'alert-scaler-ui-functions-'));
    writeFileSync(join(sources, 'redirect.mjs'), REDIRECT_SOURCE);
    s = await startTestScaler(
      { echo: { labels: { 'com.openfaas.scale.max': '10' } }, odd: { labels: { 'com.openfaas.scale.type': HOSTILE } }, redir: { command: [process.execPath, join(sources, 'redirect.mjs')] } },
      { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
    );
    // playwright makes a fresh profile per launch; the folder is ours so it is removed for sure.
    profile = mkdtempSync(join(tmpdir(), 'alert-scaler-chromium-'));
    browser = await launchChromium(profile);
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  }, 30_000);

  it('asks for the credentials when basic auth is on: 401 with a Basic challenge', async () => {
    const page = await open(LAPTOP, false);
    const challenged = page.waitForEvent('response', { predicate: (r) => r.url() === `${s.adminUrl}/ui/`, ...WAIT });
    // Chromium asks for credentials; with none to give, the navigation fails on the challenge.
    const navigation = await page.goto(`${s.adminUrl}/ui/`, WAIT).then(
      () => 'loaded',
      (err: unknown) => String(err),
    );
    expect(navigation).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
    const res = await challenged;
    expect(res.status()).toBe(401);
    expect(await res.headerValue('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await page.locator('[data-function]').count()).toBe(0);
  });

  it('lists the functions with their live counts, follows an alert without a reload, and scales and invokes by hand (laptop)', async () => {
    const page = await open(LAPTOP);
    const res = await page.goto(`${s.adminUrl}/ui/`, WAIT);
    expect(res?.status()).toBe(200);
    await page.waitForSelector(`${card('echo')}[data-desired="1"][data-ready="1"]`, WAIT);
    await page.waitForSelector(card('odd'), WAIT);
    await page.waitForSelector('#connection[data-state="live"]', WAIT);
    // A mark that a reload would wipe.
    await page.evaluate('window.__mark = "no reload"');

    const alert = await request(s.adminServer).post('/system/alert').auth(AUTH.user, AUTH.password).send(firing);
    expect(alert.body.results[0]).toMatchObject({ outcome: 'applied', from: 1, to: 3 });
    await page.waitForSelector(`${card('echo')}[data-desired="3"]`, WAIT);
    await page.waitForSelector(`${card('echo')}[data-ready="3"]`, WAIT);
    expect(await page.evaluate('window.__mark')).toBe('no reload');

    await page.click(card('echo'));
    await page.waitForSelector('#detail[data-function="echo"]', WAIT);
    await page.waitForSelector('#events td:text("step-up")', WAIT);
    expect(await page.locator('#replicas tbody tr').count()).toBe(3);

    await page.fill('#scale-replicas', '2');
    await page.click('#scale-button');
    await page.waitForSelector(`${card('echo')}[data-desired="2"]`, WAIT);
    await eventually(async () => (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired === 2, 10_000);
    expect(await page.textContent('#scale-result')).toMatch(/^3 → 2/);

    await page.fill('#invoke-body', 'hello from the page');
    await page.click('#invoke-button');
    await page.waitForSelector('#invoke-result:has-text("hello from the page")', WAIT);
    expect(await page.textContent('#invoke-result')).toMatch(/^HTTP 200 in \d+ ms\nhello from the page$/);
    await page.waitForSelector(`${card('echo')}[data-ready="2"]`, WAIT);

    // Wide screen: the detail sits beside the list.
    const list = await page.locator('#functions').boundingBox();
    const detail = await page.locator('#detail').boundingBox();
    expect(detail !== null && list !== null && detail.x > list.x + list.width - 1).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'ui-laptop.png') });
  }, 60_000);

  it('shows untrusted text as text: a label holding markup runs nothing', async () => {
    const page = await open(LAPTOP);
    await page.goto(`${s.adminUrl}/ui/`, WAIT);
    await page.click(card('odd'), WAIT);
    await page.waitForSelector('#detail[data-function="odd"]', WAIT);
    expect(await page.textContent('#detail-policy')).toContain(HOSTILE.replaceAll('"', '\\"'));
    expect(await page.locator('#detail img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  it('fits a phone screen: one column, the detail below the list, nothing wider than the screen', async () => {
    const page = await open(PHONE);
    await page.goto(`${s.adminUrl}/ui/`, WAIT);
    await page.click(card('echo'), WAIT);
    await page.waitForSelector('#detail[data-function="echo"]', WAIT);
    await page.waitForSelector('#replicas tbody tr', WAIT);
    const list = await page.locator('#functions').boundingBox();
    const detail = await page.locator('#detail').boundingBox();
    expect(detail !== null && list !== null && detail.y >= list.y + list.height).toBe(true);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: join(SCREENSHOTS, 'ui-phone.png'), fullPage: true });
  }, 30_000);

  it("does not follow a function's redirect from Invoke: the operator's POST never reaches the admin API it points at", async () => {
    const page = await open(LAPTOP);
    await page.goto(`${s.adminUrl}/ui/`, WAIT);
    await page.click(card('redir'), WAIT);
    await page.waitForSelector('#detail[data-function="redir"]', WAIT);
    const before = (await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired;
    await page.fill('#invoke-body', JSON.stringify({ serviceName: 'echo', replicas: 7 }));
    await page.click('#invoke-button');
    await page.waitForSelector('#invoke-result:has-text("redirect")', WAIT);
    expect(await page.textContent('#invoke-result')).toMatch(/^a redirect in \d+ ms \(not followed\)$/);
    await new Promise((r) => setTimeout(r, 300));
    expect((await s.provider.getReplicas({ name: 'echo', namespace: 'openfaas-fn' })).desired).toBe(before);
  }, 30_000);
});

