/**
 * Timeouts past Node's timer limit (2^31 - 1 ms, about 24.8 days): Node fires such a timer
 * after 1 ms, so a long wake or request timeout (`600h` is a valid label, and
 * ALERT_SCALER_REQUEST_TIMEOUT_MS accepts any positive integer) must not become an
 * immediate 504.
 */
import { describe, expect, it } from '@jest/globals';
import { systemClock } from '../../src/core/clock.js';
import { parseDurationMs } from '../../src/policy/duration.js';

describe('the system clock and long timeouts', () => {
  it.each([
    ['a wake-timeout label of 600h', parseDurationMs('600h') ?? 0],
    ['a request timeout of 3e9 ms', 3_000_000_000],
    ['the largest safe integer of ms', Number.MAX_SAFE_INTEGER],
  ])('a timer for %s does not fire within 100 ms', async (_name, delayMs) => {
    expect(delayMs).toBeGreaterThan(2 ** 31 - 1);
    let fired = false;
    const timer = systemClock.setTimeout(() => (fired = true), delayMs);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(fired).toBe(false);
    } finally {
      systemClock.clearTimeout(timer);
    }
  });

  it('a short timer still fires on time', async () => {
    let fired = false;
    systemClock.setTimeout(() => (fired = true), 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fired).toBe(true);
  });
});
