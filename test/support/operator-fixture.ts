import http from 'node:http';
import type { TestFunction } from './harness.js';

/*
 * Functions whose operator fields (src/api/status-live.ts) each show something: `busy` is a
 * queue-kind function at max 1 with one slot, so a few calls at once leave it saturated;
 * `failing` answers every call 500; `slow` answers after its request timeout (504); `zero`
 * starts at zero. Shared by the stream test and the page test.
 */

/** A replica that answers 200 on its health path and 500 to every call. */
const FAILING = "require('http').createServer((q,r)=>{r.writeHead(q.url==='/_/health'?200:500);r.end('boom')}).listen(Number(process.env.PORT),'127.0.0.1')";

/** How long `busy` takes per call, ms: three calls at once keep two waiting for over a second. */
export const BUSY_DELAY_MS = 1500;

export const OPERATOR_FUNCTIONS: Record<string, TestFunction> = {
  busy: {
    labels: { 'com.openfaas.scale.type': 'queue', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1', 'com.openfaas.scale.concurrency': '1' },
    environment: { RESPONSE_DELAY_MS: String(BUSY_DELAY_MS) },
  },
  failing: { command: [process.execPath, '-e', FAILING] },
  slow: { labels: { 'com.openfaas.request-timeout': '1s', 'com.openfaas.scale.max': '2' }, environment: { RESPONSE_DELAY_MS: '4000' } },
  zero: { labels: { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.max': '3' } },
};

/** A Basic credential pair. */
export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** One call to `url` on 127.0.0.1; resolves with its status (0 when the connection failed). */
export function call(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent: false, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end('x');
  });
}

/** An Alertmanager notification with one firing alert for `fn`; a hold alert (`scale_action="hold"`) when `alertname` is given. */
export function notification(fn: string, alertname?: string): object {
  const labels: Record<string, string> = { alertname: alertname ?? 'APIHighInvocationRate', function_name: fn, ...(alertname === undefined ? {} : { scale_action: 'hold' }) };
  const alert = { status: 'firing', labels, annotations: {}, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', fingerprint: `${fn}-${alertname ?? 'rate'}` };
  return { receiver: 'scale', status: 'firing', alerts: [alert], groupLabels: {}, commonLabels: labels, commonAnnotations: {}, version: '4', groupKey: `{}:{function_name="${fn}"}`, truncatedAlerts: 0 };
}
