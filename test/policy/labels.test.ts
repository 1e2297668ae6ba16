import { describe, expect, it } from '@jest/globals';
import { parseDurationMs } from '../../src/policy/duration.js';
import { parseScalingPolicy } from '../../src/policy/labels.js';
import { DEFAULT_POLICY } from '../support/policy.js';

const defaults = DEFAULT_POLICY;

describe('scale labels', () => {
  it('no labels gives the defaults', () => {
    const { maxReplicasCeiling: _ceiling, ...policy } = defaults;
    expect(parseScalingPolicy({}, {}, defaults)).toEqual({ ok: true, policy });
  });

  it('max 0 is the configured ceiling (Code Engine max-scale 0), for every kind, rps included', () => {
    const result = parseScalingPolicy({ 'com.openfaas.scale.max': '0', 'com.openfaas.scale.min': '4' }, {}, { ...defaults, maxReplicasCeiling: 50 });
    expect(result.ok && result.policy).toMatchObject({ minReplicas: 4, maxReplicas: 50 });
  });

  it('min above the ceiling that max 0 stands for is refused', () => {
    const result = parseScalingPolicy({ 'com.openfaas.scale.max': '0', 'com.openfaas.scale.min': '60' }, {}, { ...defaults, maxReplicasCeiling: 50 });
    expect(!result.ok && result.problems.join()).toMatch(/ceiling \(50\)/);
  });

  it('dry-run comes from the label, else from the defaults (the config)', () => {
    const on = parseScalingPolicy({ 'com.openfaas.scale.dry-run': 'true' }, {}, defaults);
    expect(on.ok && on.policy.dryRun).toBe(true);
    const off = parseScalingPolicy({ 'com.openfaas.scale.dry-run': 'false' }, {}, { ...defaults, dryRun: true });
    expect(off.ok && off.policy.dryRun).toBe(false);
    const inherited = parseScalingPolicy({}, {}, { ...defaults, dryRun: true });
    expect(inherited.ok && inherited.policy.dryRun).toBe(true);
  });

  it('long and short forms are read; the long form wins', () => {
    const result = parseScalingPolicy({ 'scale.min': '2', 'scale.max': '9', 'com.openfaas.scale.max': '7', 'scale.factor': '50' }, {}, defaults);
    const { maxReplicasCeiling: _ceiling, ...policy } = defaults;
    expect(result).toEqual({ ok: true, policy: { ...policy, minReplicas: 2, maxReplicas: 7, factorPercent: 50 } });
  });

  it('labels win over annotations; annotations are read', () => {
    const result = parseScalingPolicy({ 'com.openfaas.scale.min': '3' }, { 'com.openfaas.scale.min': '5', 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '90s' }, defaults);
    expect(result.ok && result.policy).toMatchObject({ minReplicas: 3, scaleToZero: true, zeroDurationMs: 90_000 });
  });

  it('down window and wake timeout are durations', () => {
    const result = parseScalingPolicy({ 'com.openfaas.scale.down.window': '1m30s', 'com.openfaas.scale.wake-timeout': '500ms' }, {}, defaults);
    expect(result.ok && result.policy).toMatchObject({ scaleDownWindowMs: 90_000, wakeTimeoutMs: 500 });
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['scale.min=abc', { 'scale.min': 'abc' }, /scale\.min/],
    ['negative max', { 'com.openfaas.scale.max': '-1' }, /scale\.max/],
    ['min > max', { 'scale.min': '5', 'scale.max': '2' }, /min \(5\).*max \(2\)/],
    ['factor > 100', { 'com.openfaas.scale.factor': '150' }, /factor/],
    ['fractional min', { 'scale.min': '1.5' }, /scale\.min/],
    ['bad window', { 'com.openfaas.scale.down.window': 'soon' }, /down\.window/],
    ['bad zero flag', { 'com.openfaas.scale.zero': 'maybe' }, /scale\.zero/],
    ['max 0 without a configured ceiling', { 'scale.min': '0', 'scale.max': '0' }, /max/],
    ['bad dry-run flag', { 'com.openfaas.scale.dry-run': 'perhaps' }, /dry-run/],
  ];
  it.each(bad)('%s is refused with a reason', (_name, labels, pattern) => {
    const { maxReplicasCeiling: _ceiling, ...noCeiling } = defaults;
    const result = parseScalingPolicy(labels, {}, noCeiling);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join('\n')).toMatch(pattern);
  });

  it('every problem is listed, not just the first', () => {
    const result = parseScalingPolicy({ 'scale.min': 'x', 'scale.max': 'y' }, {}, defaults);
    expect(!result.ok && result.problems.length).toBe(2);
  });
});

describe('durations', () => {
  const rows: Array<[string, number | null]> = [
    ['30s', 30_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['15', 15_000],
    ['1.5s', 1500],
    ['', null],
    ['10 minutes', null],
    ['-5s', null],
  ];
  it.each(rows)('%j → %p', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });
});
