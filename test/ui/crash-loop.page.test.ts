import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import type { RunningScaler } from '../../src/bootstrap.js';
import { startTestScaler } from '../support/harness.js';
import { chromiumDescribe, launchChromium } from '../support/chromium.js';

/*
 * The status page shows a function's crash loop (issue 16, item 8) as text: its cause line on
 * the card and the detail, its last stderr lines below. The replica's stderr holds markup
 * that would run script if the page ever put it into markup. Debian's Chromium, headless.
 */

const WAIT = { timeout: 15_000 };
const HOSTILE = '<img src=x onerror="window.__xss=1">';

const describeWithChromium = chromiumDescribe('crash-loop page test');

let s: RunningScaler;
let browser: Browser;
let profile: string;

describeWithChromium('the status page shows a crash loop', () => {
  beforeAll(async () => {
    // The line is simple (its operators are quoted): exec'd, it prints the markup and exits 3.
    const script = `console.error('starting'); console.error(process.env.HOSTILE); process.exit(3)`;
    s = await startTestScaler({ crashy: { command: `${process.execPath} -e "${script}"`, environment: { HOSTILE } } }, { ALERT_SCALER_IDLER_INTERVAL_SECONDS: '3600' });
    profile = mkdtempSync(join(tmpdir(), 'alert-scaler-chromium-'));
    browser = await launchChromium(profile);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  }, 30_000);

  it('names the cause on the card and in the detail, with the last stderr lines, as text only', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await page.goto(`${s.adminUrl}/ui/`, WAIT);
      const card = '[data-function="crashy"]';
      await page.waitForSelector(`${card}.crash-loop [data-field="crash"]:not([hidden])`, WAIT);
      expect(await page.textContent(`${card} [data-field="crash"]`)).toBe(`crash-loop: replica exited with code 3: ${HOSTILE}`);

      await page.click(card);
      await page.waitForSelector('#detail-crash:not([hidden])', WAIT);
      expect(await page.textContent('#crash-summary')).toMatch(new RegExp(`^crash-loop: \\d+ crash(es)?, .*; last: replica exited with code 3: `));
      expect(await page.textContent('#crash-stderr')).toBe(`starting\n${HOSTILE}`);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.evaluate('window.__xss')).toBeUndefined();
    } finally {
      await context.close();
    }
  }, 60_000);
});
