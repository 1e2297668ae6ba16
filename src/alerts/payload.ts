import { z } from 'zod';
import { isPlain, recordOf, stringItem } from '../core/plain-json.js';
import { yieldToLoop } from '../core/yield-to-loop.js';

const labelMap = z.record(z.string(), z.string());

/** Most alerts in one notification. */
export const MAX_ALERTS = 10_000;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * True when `text` is an RFC 3339 date-time (`2023-03-01T10:00:00.123456789Z`, offsets
 * such as `+05:30`, Alertmanager's `0001-01-01T00:00:00Z` for "no end"). At most 9 digits of
 * fractional seconds (what Go writes), so the text is at most 35 characters.
 */
export function isRfc3339(text: string): boolean {
  const match = RFC3339.exec(text);
  if (match === null) return false;
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  if (month === undefined || month < 1 || month > 12 || day === undefined || year === undefined) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  // Second 60 is a leap second, which RFC 3339 allows.
  return day >= 1 && day <= days && (hour ?? 0) <= 23 && (minute ?? 0) <= 59 && (second ?? 0) <= 60 && (offsetHour ?? 0) <= 23 && (offsetMinute ?? 0) <= 59;
}

const dateTime = z.string().refine(isRfc3339, { message: 'must be an RFC 3339 date-time, e.g. 2023-03-01T10:00:00.123Z' });

/**
 * Alertmanager fingerprints are 16 hex digits; up to 32 visible ASCII characters (no quote
 * or backslash) are accepted, which bounds the size of the stored alert state.
 */
const fingerprint = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,32}$/, { message: 'must be 1 to 32 visible ASCII characters, no quote or backslash' });

/** One alert of an Alertmanager webhook notification (version 4). */
export const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelMap,
  annotations: labelMap.default({}),
  startsAt: dateTime,
  endsAt: dateTime.optional(),
  generatorURL: z.string().optional(),
  fingerprint,
});

const envelope = {
  version: z.literal('4'),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().optional(),
  groupKey: z.string().optional(),
  externalURL: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).optional(),
};

/** The Alertmanager webhook payload, version 4. */
export const webhookSchema = z.looseObject({ ...envelope, alerts: z.array(alertSchema).max(MAX_ALERTS) });

/** The payload with its alerts not yet checked, so they can be checked in slices. */
const envelopeSchema = z.looseObject({ ...envelope, alerts: z.array(z.unknown()).max(MAX_ALERTS) });

export type WebhookAlert = z.output<typeof alertSchema>;
export type WebhookPayload = z.output<typeof webhookSchema>;

/** Most problems listed in a 400 answer. */
const MAX_PROBLEMS = 20;
/** Alerts checked between two turns of the event loop. */
const SLICE = 500;

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: string, into: string[]): void {
  for (const issue of issues) {
    if (into.length >= MAX_PROBLEMS) return;
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    into.push(`${path || '(body)'}: ${issue.message}`);
  }
}

/** The keys of alertSchema and of the envelope: the rest pass through (looseObject), after them. */
const ALERT_KEYS = new Set(Object.keys(alertSchema.shape));
const ENVELOPE_KEYS = new Set(Object.keys(envelopeSchema.shape));
const FINGERPRINT = /^[\x21\x23-\x5b\x5d-\x7e]{1,32}$/;

/** Copies the keys `known` does not hold into `out` after its own; false at a `__proto__` key. */
function passThrough(from: Record<string, unknown>, known: ReadonlySet<string>, out: Record<string, unknown>): boolean {
  for (const key of Object.keys(from)) {
    if (known.has(key)) continue;
    if (key === '__proto__') return false;
    out[key] = from[key];
  }
  return true;
}

/** An optional string field present (as zod keeps it: a key given as undefined stays) and valid, or absent. */
function optional(from: Record<string, unknown>, key: string, out: Record<string, unknown>, valid: (text: string) => boolean): boolean {
  if (!(key in from)) return true;
  const value = from[key];
  if (value !== undefined && (typeof value !== 'string' || !valid(value))) return false;
  out[key] = value;
  return true;
}

const anyString = (): boolean => true;

/** alertSchema's output for an alert it accepts as is; undefined when in doubt (zod then decides, and names the problem). */
function plainAlert(raw: unknown): WebhookAlert | undefined {
  if (!isPlain(raw)) return undefined;
  const { status, startsAt, fingerprint } = raw;
  if (status !== 'firing' && status !== 'resolved') return undefined;
  const labels = recordOf(raw['labels'], stringItem);
  const annotations = raw['annotations'] === undefined ? {} : recordOf(raw['annotations'], stringItem);
  if (labels === undefined || annotations === undefined || typeof startsAt !== 'string' || !isRfc3339(startsAt)) return undefined;
  const out: Record<string, unknown> = { status, labels, annotations, startsAt };
  if (!optional(raw, 'endsAt', out, isRfc3339) || !optional(raw, 'generatorURL', out, anyString)) return undefined;
  if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) return undefined;
  out['fingerprint'] = fingerprint;
  return passThrough(raw, ALERT_KEYS, out) ? (out as WebhookAlert) : undefined;
}

/** The last externalURL the schema accepted: Alertmanager sends the same one every time. */
let acceptedExternalUrl: string | undefined;

function isExternalUrl(text: string): boolean {
  if (text === acceptedExternalUrl) return true;
  if (!envelope.externalURL.safeParse(text).success) return false;
  acceptedExternalUrl = text;
  return true;
}

/**
 * webhookSchema's output for a notification of at most SLICE alerts that it accepts as is,
 * built without zod (its parse was a fifth of the webhook's CPU); undefined when in doubt:
 * then zod checks it and names the problems, so they read the same.
 */
function plainPayload(body: unknown): WebhookPayload | undefined {
  if (!isPlain(body)) return undefined;
  const { version, status, alerts: raw } = body;
  if (version !== '4' || (status !== 'firing' && status !== 'resolved') || !Array.isArray(raw) || raw.length > SLICE) return undefined;
  const out: Record<string, unknown> = { version, status };
  if (!optional(body, 'receiver', out, anyString) || !optional(body, 'groupKey', out, anyString) || !optional(body, 'externalURL', out, isExternalUrl)) return undefined;
  const alerts: WebhookAlert[] = [];
  for (const a of raw as unknown[]) {
    const alert = plainAlert(a);
    if (alert === undefined) return undefined;
    alerts.push(alert);
  }
  out['alerts'] = alerts;
  return passThrough(body, ENVELOPE_KEYS, out) ? (out as WebhookPayload) : undefined;
}

/**
 * Checks a webhook body against `webhookSchema`, letting the event loop turn every few
 * hundred alerts so a large notification never blocks it. Problems name the field path
 * (`alerts.3.startsAt: ...`); at most 20 are listed.
 */
export async function parseWebhook(body: unknown): Promise<{ ok: true; payload: WebhookPayload } | { ok: false; problems: string[] }> {
  const plain = plainPayload(body);
  if (plain !== undefined) return { ok: true, payload: plain };
  const problems: string[] = [];
  const head = envelopeSchema.safeParse(body);
  if (!head.success) {
    describeIssues(head.error.issues, '', problems);
    return { ok: false, problems };
  }
  const alerts: WebhookAlert[] = [];
  const raw = head.data.alerts;
  for (let i = 0; i < raw.length; i++) {
    if (i > 0 && i % SLICE === 0) await yieldToLoop();
    const alert = alertSchema.safeParse(raw[i]);
    if (alert.success) alerts.push(alert.data);
    else describeIssues(alert.error.issues, `alerts.${i}`, problems);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, payload: { ...head.data, alerts } };
}
