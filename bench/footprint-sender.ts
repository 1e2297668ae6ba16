import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { notificationStream } from './webhook.js';

/*
 * The footprint bench's webhook stream, sent from a Node process of its own, as Alertmanager
 * sends from its own process. The fake Kubernetes API runs in the bench process and holds
 * every object of N functions (at 10,000: 30,000 full objects plus the history of every
 * write); its garbage collection pauses (tens of ms each at 10,000 functions on a loaded
 * machine) would otherwise be counted in the client's timings, which are the figure.
 * The child also reports its own event-loop delay, so a late client shows in the result.
 */

export interface StreamOptions {
  readonly rate: number;
  readonly seconds: number;
  readonly functions: number;
}

export interface StreamResult {
  readonly sent: number;
  readonly statuses: Record<string, number>;
  readonly latencies: number[];
  /** p99 of the sending process's own event-loop delay, ms. */
  readonly senderLoopDelayP99Ms: number;
}

/** Runs notificationStream (bench/webhook.ts) against `url` in a child process; rejects when it fails or overruns its time by a minute. */
export function notificationStreamApart(url: string, options: StreamOptions): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', url, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.seconds * 1000 + 60_000);
    proc.stdout.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-50_000_000)));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`footprint sender exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as StreamResult);
    });
  });
}

async function child(url: string, options: StreamOptions): Promise<StreamResult> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const run = await notificationStream(url, options);
  delay.disable();
  return { ...run, senderLoopDelayP99Ms: Math.round(delay.percentile(99) / 1e4) / 100 };
}

if (process.argv[2] === 'child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  child(process.argv[3] ?? '', JSON.parse(process.argv[4] ?? '{}') as StreamOptions).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`footprint sender failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
