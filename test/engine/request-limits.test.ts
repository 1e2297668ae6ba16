import { describe, expect, it } from '@jest/globals';
import { gatewayShare } from '../../src/engine/replicas.js';
import { parseRequestLimits } from '../../src/policy/labels.js';

const defaults = { concurrency: 0, maxQueued: 100, requestTimeoutMs: 300_000, maxWaitMs: 30_000, websocketIdleTimeoutMs: 0 };

describe('request limit labels', () => {
  it('no labels gives the defaults', () => {
    expect(parseRequestLimits({}, {}, defaults)).toEqual({ ok: true, limits: defaults });
  });

  it('concurrency, max-queued (long or short) and request-timeout are read; labels win over annotations', () => {
    const result = parseRequestLimits({ 'com.openfaas.scale.concurrency': '4', 'scale.max-queued': '10' }, { 'com.openfaas.request-timeout': '1m30s', 'com.openfaas.scale.concurrency': '9' }, defaults);
    expect(result).toEqual({ ok: true, limits: { concurrency: 4, maxQueued: 10, requestTimeoutMs: 90_000, maxWaitMs: 30_000, websocketIdleTimeoutMs: 0 } });
  });

  it('the queue wait comes from wake-timeout, long or short', () => {
    expect(parseRequestLimits({ 'scale.wake-timeout': '2s' }, {}, defaults)).toEqual({ ok: true, limits: { ...defaults, maxWaitMs: 2_000 } });
  });

  it('request-timeout is not read under the scale prefix', () => {
    expect(parseRequestLimits({ 'com.openfaas.scale.request-timeout': '1s' }, {}, defaults)).toEqual({ ok: true, limits: defaults });
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['a word for concurrency', { 'com.openfaas.scale.concurrency': 'lots' }, /concurrency/],
    ['a negative max-queued', { 'com.openfaas.scale.max-queued': '-1' }, /max-queued/],
    ['a timeout without a unit word', { 'com.openfaas.request-timeout': 'soon' }, /request-timeout/],
    ['a zero timeout', { 'com.openfaas.request-timeout': '0s' }, /request-timeout/],
    ['a zero wake-timeout', { 'com.openfaas.scale.wake-timeout': '0s' }, /wake-timeout/],
  ];
  it.each(bad)('%s is refused with a reason', (_name, labels, pattern) => {
    const result = parseRequestLimits(labels, {}, defaults);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join('\n')).toMatch(pattern);
  });
});

describe("each gateway's share of a replica's hard limit", () => {
  const ids = Array.from({ length: 50 }, (_, i) => `fn-${i + 1}`);
  const rows: Array<[number, number]> = [
    [1, 1],
    [4, 1],
    [4, 2],
    [5, 2],
    [1, 3],
    [2, 3],
    [10, 3],
    [7, 7],
  ];
  it.each(rows)('limit %i over %i gateways: the shares of every replica add up to the limit, each floor or ceil', (limit, count) => {
    for (const id of ids) {
      const shares = Array.from({ length: count }, (_, index) => gatewayShare(limit, { count, index }, id));
      expect(shares.reduce((a, b) => a + b, 0)).toBe(limit);
      for (const share of shares) expect([Math.floor(limit / count), Math.ceil(limit / count)]).toContain(share);
    }
  });

  it('limit 0 is unlimited for every gateway', () => {
    expect(gatewayShare(0, { count: 3, index: 1 }, 'fn-1')).toBe(Number.POSITIVE_INFINITY);
  });

  it('with a limit below the gateway count, each gateway still owns slots on some replicas', () => {
    for (let index = 0; index < 3; index++) {
      expect(ids.some((id) => gatewayShare(1, { count: 3, index }, id) === 1)).toBe(true);
    }
  });
});
