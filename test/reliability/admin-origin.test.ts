/**
 * A function's page cannot drive the admin API (issue 16, item 2), proved in a real browser:
 * Debian's Chromium, headless, driven by playwright-core, against a real gateway with basic
 * auth on. The browser logs in to the admin listener's /ui/ (credentials for the admin origin
 * only), then opens the page of the function `evil`, whose script POSTs a scale of the
 * function `other` (1 → 7) with `credentials: 'include'`: to the relative
 * /system/scale-function/other (same origin as the page) and to the admin origin, as a plain
 * fetch and as a no-cors one. The page is opened on the function listener and on the admin
 * listener (which faas-cli uses for /function/* too). `other` stays at 1 replica every time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { RunningScaler } from '../../src/bootstrap.js';
import { eventually, startTestScaler } from '../support/harness.js';
import { chromiumDescribe, launchChromium } from '../support/chromium.js';

const AUTH = { user: 'admin', password: 'admin-origin-test' };
const WAIT = { timeout: 10_000 };
const OTHER = { name: 'other', namespace: 'openfaas-fn' };

// The attacker's function: its page (any path) runs the scale attempts once loaded and writes
// what each fetch got into #out and the title. The admin origin comes in the query (?admin=).
const EVIL_SOURCE = `
import http from 'node:http';
const page = \`<!doctype html><html><head><title>waiting</title></head><body><pre id="out">not run</pre><script>
(async () => {
  const admin = new URLSearchParams(location.search).get('admin');
  const body = JSON.stringify({ serviceName: 'other', replicas: 7 });
  const attempts = {
    relative: ['/system/scale-function/other', {}],
    admin: [admin + '/system/scale-function/other', {}],
    adminNoCors: [admin + '/system/scale-function/other', { mode: 'no-cors' }],
  };
  const results = {};
  for (const [name, [url, extra]] of Object.entries(attempts)) {
    try {
      const res = await fetch(url, { method: 'POST', credentials: 'include', headers: { 'content-type': 'text/plain' }, body, ...extra });
      results[name] = res.type === 'opaque' ? 'opaque' : res.status;
    } catch (err) {
      results[name] = 'failed: ' + err.message;
    }
  }
  document.getElementById('out').textContent = JSON.stringify(results);
  document.title = 'done';
})();
</script></body></html>\`;
http.createServer((req, res) => {
  if (req.url === '/_/health') { res.end('OK'); return; }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const describeWithChromium = chromiumDescribe('admin-origin browser suite');

let s: RunningScaler;
let adminUrl: string;
let browser: Browser;
let profile: string;
let dir: string;
const contexts: BrowserContext[] = [];

const desiredOfOther = async (): Promise<number> => (await s.provider.getReplicas(OTHER)).desired;

/** A browser context logged in to the admin listener's /ui/ (credentials given to that origin only). */
async function loggedIn(): Promise<Page> {
  const context = await browser.newContext({ httpCredentials: { username: AUTH.user, password: AUTH.password, origin: new URL(adminUrl).origin } });
  contexts.push(context);
  const page = await context.newPage();
  const ui = await page.goto(`${adminUrl}/ui/`, WAIT);
  expect(ui?.status()).toBe(200);
  await page.waitForSelector('[data-function="other"][data-desired="1"]', WAIT);
  return page;
}

describeWithChromium('a function page opened by a browser logged in to /ui/', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'alert-scaler-admin-origin-'));
    const evil = join(dir, 'evil.mjs');
    writeFileSync(evil, EVIL_SOURCE);
    s = await startTestScaler(
      { evil: { command: [process.execPath, evil] }, other: { labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '10' } } },
      { ALERT_SCALER_BASIC_AUTH_USER: AUTH.user, ALERT_SCALER_BASIC_AUTH_PASSWORD: AUTH.password, ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' },
    );
    adminUrl = s.adminUrl;
    profile = mkdtempSync(join(tmpdir(), 'alert-scaler-chromium-'));
    browser = await launchChromium(profile);
    await eventually(async () => (await s.provider.getReplicas({ name: 'evil', namespace: 'openfaas-fn' })).ready === 1 && (await s.provider.getReplicas(OTHER)).ready === 1, 15_000);
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    for (const folder of [profile, dir]) if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  }, 30_000);

  it('on the function listener: every scale attempt fails and `other` stays at 1 replica', async () => {
    const page = await loggedIn();

    const res = await page.goto(`${s.url}/function/evil/?admin=${encodeURIComponent(new URL(adminUrl).origin)}`, WAIT);
    expect(res?.status()).toBe(200);
    await page.waitForFunction('document.title === "done"', undefined, WAIT);
    const results = JSON.parse((await page.textContent('#out')) ?? '{}') as Record<string, number | string>;

    // Same origin as the page: no admin API there (404). The admin origin: not this page's
    // origin, so the read is refused (CORS) and the request itself fails the Origin check.
    expect(results['relative']).toBe(404);
    expect(String(results['admin'])).toMatch(/^failed: /);
    expect(results['adminNoCors']).toBe('opaque');
    expect(await desiredOfOther()).toBe(1);
  }, 30_000);

  it('on the admin listener (faas-cli uses it for /function/* too): the answer is sandboxed, its script never runs, `other` stays at 1', async () => {
    const page = await loggedIn();

    const res = await page.goto(`${adminUrl}/function/evil/?admin=${encodeURIComponent(new URL(adminUrl).origin)}`, { ...WAIT, waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    // Time for the script to run, were it allowed: the same page did its work well within this on the other listener.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await desiredOfOther()).toBe(1);
    expect(await page.title()).toBe('waiting');
    expect(await page.textContent('#out')).toBe('not run');
    expect(await res?.headerValue('content-security-policy')).toMatch(/(^|,\s*)sandbox($|,)/);
  }, 30_000);
});
