import http from 'node:http';
import { percentiles, type Percentiles } from './cold-start.js';

/** What one open-loop run measured. */
export interface PacedResult {
  readonly rate: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  /** Latency of each call from the moment it was sent to the end of its answer, in ms. */
  readonly latencyMs: Percentiles;
  /** Largest delay between a call's scheduled and actual send time (client-side lateness), in ms. */
  readonly maxSendLateMs: number;
}

/**
 * An open-loop client: sends `rate` calls per second for `seconds`, each at its scheduled
 * time whether or not earlier calls have answered (wrk is closed-loop: a slow answer delays
 * the next call and hides latency). Keep-alive connections, at most 256 at once; each call
 * has a 5 s deadline and counts as an error past it.
 */
export async function pacedRun(url: string, options: { rate: number; seconds: number; body: Buffer }): Promise<PacedResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(url);
  const total = Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  let errors = 0;
  let maxLate = 0;
  let done = 0;

  const send = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': options.body.length } },
        (res) => {
          res.on('data', () => undefined);
          res.once('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - started);
            else errors += 1;
            resolve();
          });
        },
      );
      req.setTimeout(5000, () => req.destroy(new Error('deadline')));
      req.once('error', () => {
        errors += 1;
        resolve();
      });
      req.end(options.body);
    });

  const inFlight: Array<Promise<void>> = [];
  const began = performance.now();
  await new Promise<void>((finish) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && began + next * intervalMs <= now) {
        maxLate = Math.max(maxLate, now - (began + next * intervalMs));
        inFlight.push(send().then(() => void (done += 1)));
        next += 1;
      }
      if (next < total) setTimeout(tick, Math.max(0, began + next * intervalMs - performance.now()));
      else finish();
    };
    tick();
  });
  await Promise.all(inFlight);
  agent.destroy();
  return { rate: options.rate, sent: done, ok: latencies.length, errors, latencyMs: percentiles(latencies), maxSendLateMs: Math.round(maxLate * 100) / 100 };
}
