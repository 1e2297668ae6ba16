/**
 * Debian's Chromium for the browser suites (never a downloaded browser): where it is, how it
 * starts here (headless as root, no background networking on a closed network), and the
 * describe that skips loudly without it, except on CI where a missing browser fails.
 */
import { existsSync } from 'node:fs';
import { describe } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** `describe` when Chromium is installed; else `describe.skip` with a warning (an error with CI=true). */
export function chromiumDescribe(suite: string): typeof describe | typeof describe.skip {
  if (existsSync(CHROMIUM)) return describe;
  const message = `${suite}: ${CHROMIUM} not found (apt-get install chromium)`;
  if (process.env['CI'] === 'true') throw new Error(message);
  console.warn(`SKIPPED ${message}`);
  return describe.skip;
}

/** Starts headless Chromium with `profile` as its home (a fresh temporary folder per suite). */
export function launchChromium(profile: string): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000, env: { ...process.env, HOME: profile } });
}
