import type { RunningScaler } from '../src/bootstrap.js';
import { startLoad } from './load.js';

/** Prints one line of the demo (with its elapsed time). */
export type Say = (message: string) => void;

/** Resolves after `ms`. */
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Desired replicas of `name` now. */
async function desired(gateway: RunningScaler, name: string): Promise<number> {
  return (await gateway.provider.getReplicas({ name, namespace: 'openfaas-fn' })).desired;
}

/**
 * Scale from zero: `sleepy` starts at zero (`scale.min: 0`); one call wakes it, the answer
 * says how long it waited for its replica (`X-Scale-From-Zero`); with `scale.zero` it goes back
 * to zero once idle for its `zero-duration` (10s). Returns the call's status.
 */
export async function wakeSegment(gateway: RunningScaler, say: Say): Promise<number> {
  say(`scale from zero: sleepy has ${await desired(gateway, 'sleepy')} replicas (scale.min 0); one call wakes it`);
  const started = performance.now();
  const res = await fetch(`${gateway.url}/function/sleepy`, { method: 'POST', body: 'wake up', signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  const waited = res.headers.get('x-scale-from-zero');
  say(`scale from zero: sleepy answered ${res.status} in ${Math.round(performance.now() - started)} ms, ${waited === null ? 'without a wake' : `${waited} ms of it waiting for its replica (X-Scale-From-Zero)`}; back to zero after 10s idle (scale.zero-duration)`);
  return res.status;
}

/**
 * A policy kind without an alert: `worker` is `queue` kind, one call at a time per replica
 * (`scale.concurrency: 1`, 250 ms each, so 4 calls/s per replica); `ratePerSecond` calls/s for
 * `seconds` keep calls waiting, and each wait adds a replica up to its max 4, no Prometheus
 * involved. Returns the most replicas it reached.
 */
export async function queueSegment(gateway: RunningScaler, say: Say, options: { readonly seconds: number; readonly ratePerSecond: number }): Promise<number> {
  const before = await desired(gateway, 'worker');
  say(`policy kind queue: worker (one call at a time, 250 ms each, max 4) gets ${options.ratePerSecond} calls/s for ${options.seconds}s; it scales on its own queue, no alert`);
  const load = startLoad({ url: `${gateway.url}/function/worker`, ratePerSecond: options.ratePerSecond, maxRequests: options.ratePerSecond * options.seconds, timeoutMs: 30_000 });
  let most = before;
  const deadline = Date.now() + options.seconds * 1000;
  while (Date.now() < deadline) {
    await sleep(250);
    most = Math.max(most, await desired(gateway, 'worker'));
  }
  const stats = await load.stop();
  say(`policy kind queue: worker went ${before} → ${most} replicas on its queue; ${stats.sent} calls, responses ${JSON.stringify(stats.codes)}; idle replicas go after 10s (scale.idle-timeout)`);
  return most;
}
