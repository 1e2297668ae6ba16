import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Draw } from './seed.js';

/** Answers of a chaos run: status → error code → count (code `-` for a 2xx). */
export type Tally = Map<number, Map<string, number>>;

/** What a chaos run recorded: every call's outcome, and the calls that got no answer. */
export interface ChaosRecord {
  readonly answers: Tally;
  /** Calls that ended without an HTTP answer (reset, timeout): each one is a lost request. */
  readonly lost: string[];
  /** Bound violations seen by the sampler. */
  readonly outOfBounds: string[];
}

/** The 5xx answers the README documents, by status: any other 5xx (or code) is a failure. */
export const DOCUMENTED_5XX: Readonly<Record<number, readonly string[]>> = {
  502: ['UPSTREAM_FAILED', 'WAKE_FAILED', 'PROVIDER_FAILED'],
  503: ['QUEUE_FULL', 'PROVIDER_UNAVAILABLE', 'PROVIDER_FORBIDDEN', 'SHUTTING_DOWN', 'ALERT_RETRY'],
  504: ['WAKE_TIMEOUT', 'QUEUE_TIMEOUT', 'REQUEST_TIMEOUT'],
};

/** The undocumented answers of a tally, as `status code` strings. */
export function undocumented(tally: Tally): string[] {
  const out: string[] = [];
  for (const [status, codes] of tally) {
    if (status < 500) continue;
    for (const code of codes.keys()) if (!(DOCUMENTED_5XX[status] ?? []).includes(code)) out.push(`${status} ${code}`);
  }
  return out;
}

function count(tally: Tally, status: number, code: string): void {
  const codes = tally.get(status) ?? new Map<string, number>();
  codes.set(code, (codes.get(code) ?? 0) + 1);
  tally.set(status, codes);
}

/** One HTTP call to the gateway; the outcome goes into `record` (an answer or a lost call). */
export function call(port: number, method: string, path: string, body: string, record: ChaosRecord, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let code = '-';
        if (status >= 400) {
          try {
            // The webhook's own 503 (`{"status":"retry"}`: Alertmanager sends it again) has no error code.
            const parsed = JSON.parse(text) as { error?: { code?: unknown }; status?: unknown };
            code = String(parsed.error?.code ?? (parsed.status === 'retry' ? 'ALERT_RETRY' : 'no-code'));
          } catch {
            code = 'not-json';
          }
        }
        // An answer cut short after its head (a replica killed mid-answer) is an answer: counted as 200-cut.
        count(record.answers, status, res.complete ? code : 'cut');
        resolve();
      });
      res.on('error', () => {
        count(record.answers, res.statusCode ?? 0, 'cut');
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => {
      record.lost.push(`${method} ${path}: ${err.message}`);
      resolve();
    });
    req.end(body);
  });
}

/** An Alertmanager v4 notification with one alert for `fn`. */
export function alertBody(fn: string, status: 'firing' | 'resolved', fingerprint: string): string {
  const alert = { status, labels: { alertname: 'APIHighInvocationRate', function_name: fn }, annotations: {}, startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z', fingerprint };
  return JSON.stringify({ version: '4', status, receiver: 'scale', groupKey: `{}:{function_name="${fn}"}`, alerts: [alert], externalURL: 'http://127.0.0.1:9093' });
}

/** Runs `step` again and again, `pauseMs()` apart, until `until` (epoch ms). */
export async function repeat(until: number, pauseMs: () => number, step: () => Promise<void> | void): Promise<void> {
  while (Date.now() < until) {
    await step();
    await new Promise((r) => setTimeout(r, pauseMs()));
  }
}

/** Alerts for `functions`: firing mostly, resolved sometimes, fresh fingerprints now and then. */
export function alertLoop(port: number, functions: readonly string[], draw: Draw, record: ChaosRecord, until: number): Promise<void> {
  let n = 0;
  return repeat(until, () => draw.int(100, 400), () => {
    const fn = draw.pick(functions);
    const fingerprint = `chaos-${fn}-${draw.chance(0.3) ? n++ : 0}`;
    return call(port, 'POST', '/system/alert', alertBody(fn, draw.chance(0.7) ? 'firing' : 'resolved', fingerprint), record, 10_000);
  });
}

/** True while the process `pid` exists and is not a zombie (Linux /proc). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A tally as sorted `status code ×n` strings, for messages. */
export function describeTally(tally: Tally): string {
  return [...tally].sort(([a], [b]) => a - b).flatMap(([status, codes]) => [...codes].map(([code, n]) => `${status} ${code} ×${n}`)).join(', ');
}
