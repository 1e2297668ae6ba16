import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { packageRoot } from '../../src/config/package-root.js';
import { isRfc3339, parseWebhook, webhookSchema } from '../../src/alerts/payload.js';

describe('RFC 3339 dates in alerts', () => {
  const valid = [
    ['what Alertmanager writes, with nanoseconds', '2023-03-01T10:00:00.123456789Z'],
    ['the zero time Alertmanager sends as endsAt of a firing alert', '0001-01-01T00:00:00Z'],
    ['milliseconds', '2026-11-23T19:07:12.537Z'],
    ['no fraction', '2026-11-23T19:07:12Z'],
    ['an offset', '2026-11-23T19:07:12+05:30'],
    ['a negative offset', '2026-11-23T19:07:12.5-08:00'],
    ['lower-case t and z, which RFC 3339 allows', '2026-11-23t19:07:12z'],
    ['29 February of a leap year', '2024-02-29T00:00:00Z'],
    ['a leap second', '2016-12-31T23:59:60Z'],
  ];
  it.each(valid)('accepts %s', (_name, text) => {
    expect(isRfc3339(text)).toBe(true);
  });

  const invalid = [
    ['a word', 'not-a-date'],
    ['an empty string', ''],
    ['a date alone', '2026-11-23'],
    ['no time zone', '2026-11-23T19:07:12'],
    ['a space for T', '2026-11-23 19:07:12Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['30 February', '2024-02-30T00:00:00Z'],
    ['29 February of a common year', '2023-02-29T00:00:00Z'],
    ['29 February 1900 (not a leap year)', '1900-02-29T00:00:00Z'],
    ['hour 24', '2026-11-23T24:00:00Z'],
    ['minute 60', '2026-11-23T19:60:00Z'],
    ['an offset of 24 hours', '2026-11-23T19:07:12+24:00'],
    ['more than 9 fraction digits', '2026-11-23T19:07:12.1234567890Z'],
    ['a dot without digits', '2026-11-23T19:07:12.Z'],
    ['epoch seconds', '1700000000'],
    ['trailing text', '2026-11-23T19:07:12Z and more'],
  ];
  it.each(invalid)('refuses %s', (_name, text) => {
    expect(isRfc3339(text)).toBe(false);
  });
});

describe('webhook problems name the field', () => {
  const alert = { status: 'firing', labels: { function_name: 'echo' }, startsAt: '2026-11-23T19:07:12.537Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: 'c71c5036c8db20b4' };
  const payload = (patch: Record<string, unknown>, alertPatch: Record<string, unknown> = {}) => ({ version: '4', status: 'firing', externalURL: 'http://127.0.0.1:9093', alerts: [alert, { ...alert, ...alertPatch }], ...patch });

  const rows: Array<[string, object, string]> = [
    ['startsAt that is not a date', payload({}, { startsAt: 'not-a-date' }), 'alerts.1.startsAt'],
    ['endsAt that is not a date', payload({}, { endsAt: 'soon' }), 'alerts.1.endsAt'],
    ['a missing startsAt', payload({}, { startsAt: undefined }), 'alerts.1.startsAt'],
    ['a relative externalURL', payload({ externalURL: '/alertmanager' }), 'externalURL'],
    ['a non-http externalURL', payload({ externalURL: 'ftp://alertmanager' }), 'externalURL'],
    ['an empty externalURL', payload({ externalURL: '' }), 'externalURL'],
    ['a 33-character fingerprint', payload({}, { fingerprint: 'f'.repeat(33) }), 'alerts.1.fingerprint'],
    ['a fingerprint with a space', payload({}, { fingerprint: 'a b' }), 'alerts.1.fingerprint'],
  ];
  it.each(rows)('%s is refused', async (_name, body, field) => {
    const result = await parseWebhook(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.split(':')[0])).toEqual([field]);
  });

  it('a payload without externalURL, and one with an https externalURL, are accepted', async () => {
    const { externalURL: _omitted, ...without } = payload({});
    expect((await parseWebhook(without)).ok).toBe(true);
    expect((await parseWebhook(payload({ externalURL: 'https://example.com/am' }))).ok).toBe(true);
  });

  it('at most 20 problems are listed for a payload full of bad alerts', async () => {
    const result = await parseWebhook({ version: '4', status: 'firing', alerts: Array.from({ length: 1000 }, () => ({ ...alert, startsAt: 'x' })) });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems).toHaveLength(20);
      expect(result.problems[19]).toMatch(/^alerts\.19\.startsAt: /);
    }
  });
});

describe('accepted payloads read as webhookSchema reads them', () => {
  const alert = { status: 'firing', labels: { function_name: 'echo', '7': 'n' }, startsAt: '2026-11-23T19:07:12.537Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: 'c71c5036c8db20b4' };
  const bodies: Array<[string, unknown]> = [
    ['what Alertmanager sends', { receiver: 'scale', status: 'firing', alerts: [{ ...alert, annotations: { summary: 's' }, generatorURL: 'http://prom/graph' }], groupLabels: { function_name: 'echo' }, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://127.0.0.1:9093', version: '4', groupKey: '{}:{}', truncatedAlerts: 0 }],
    ['no annotations (the default)', { version: '4', status: 'resolved', alerts: [{ ...alert, status: 'resolved' }] }],
    ['extra keys before and between the known ones', { extra: 1, version: '4', more: [1], status: 'firing', alerts: [{ x: { y: 1 }, ...alert, z: null }] }],
    ['optional keys given as undefined', { version: '4', status: 'firing', receiver: undefined, externalURL: undefined, alerts: [{ ...alert, endsAt: undefined, generatorURL: undefined, annotations: undefined }] }],
    ['no alerts', { version: '4', status: 'firing', alerts: [] }],
    ['more alerts than one slice', { version: '4', status: 'firing', alerts: Array.from({ length: 501 }, (_, i) => ({ ...alert, fingerprint: `f${i}` })) }],
    ['a label named __proto__', JSON.parse('{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"__proto__":"p","function_name":"echo"},"startsAt":"2026-11-23T19:07:12Z","fingerprint":"f"}]}')],
  ];
  // Every real Alertmanager 0.25 payload the repo holds, as captured.
  const dir = join(packageRoot(), 'examples', 'alerts');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) bodies.push([`captured: ${file}`, JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown]);
  it.each(bodies)('%s', async (_name, body) => {
    const result = await parseWebhook(body);
    const expected = webhookSchema.parse(body);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.payload).toStrictEqual(expected);
    expect(JSON.stringify(result.payload)).toBe(JSON.stringify(expected));
    expect(Object.keys(result.payload)).toEqual(Object.keys(expected));
    expect(result.payload.alerts.map((a) => Object.keys(a))).toEqual(expected.alerts.map((a) => Object.keys(a)));
  });
});
