import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
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

/** Rounds of each target in the proxy bench's fixed-rate runs, interleaved. */
export const PACED_ROUNDS = 3;

/** One target's fixed-rate rounds: every round, and the one with the median p99. */
export interface PacedRounds<T extends string> {
  readonly target: T;
  readonly bodyBytes: number;
  /** The round with the median p99 (of an even count, the lower middle one). */
  readonly result: PacedResult;
  /** Every round, in the order run. */
  readonly rounds: readonly PacedResult[];
}

/**
 * `rounds` open-loop runs per target, the targets taking turns (direct, gateway, direct, ...),
 * so that a spell of load from elsewhere on a shared machine (the client itself running late,
 * another process's burst) lands in one round of one target rather than in the only run of it;
 * each target is summed up by its median round. Each round is sent from a fresh process
 * (`pacedRunApart`).
 */
export async function pacedRounds<T extends string>(targets: ReadonlyArray<{ readonly target: T; readonly url: string }>, options: { rate: number; seconds: number; bodyBytes: number; rounds?: number }): Promise<Array<PacedRounds<T>>> {
  const runs = new Map<T, PacedResult[]>(targets.map((t) => [t.target, []]));
  for (let round = 0; round < (options.rounds ?? PACED_ROUNDS); round += 1) {
    for (const t of targets) runs.get(t.target)?.push(await pacedRunApart(t.url, { rate: options.rate, seconds: options.seconds, bodyBytes: options.bodyBytes }));
  }
  return targets.map((t) => {
    const rounds = runs.get(t.target) ?? [];
    const byP99 = [...rounds].sort((a, b) => a.latencyMs.p99 - b.latencyMs.p99);
    const result = byP99[Math.floor((byP99.length - 1) / 2)];
    if (result === undefined) throw new Error('proxy bench: no paced round ran');
    return { target: t.target, bodyBytes: options.bodyBytes, result, rounds };
  });
}

/**
 * `pacedRun` from a Node process of its own, as a user's client is: the bench process holds the
 * results and handles of a ten-minute run, and its garbage collections (tens of ms late with
 * 64 KiB bodies) would be counted in whichever target's latencies it hit. The child sends one
 * second at the same rate first, not counted (its own warm-up). Rejects when it fails or
 * overruns its time by a minute.
 */
export function pacedRunApart(url: string, options: { rate: number; seconds: number; bodyBytes: number }): Promise<PacedResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', url, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.seconds * 1000 + 60_000);
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`paced client exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as PacedResult);
    });
  });
}

if (process.argv[2] === 'child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = JSON.parse(process.argv[4] ?? '{}') as { rate: number; seconds: number; bodyBytes: number };
  const url = process.argv[3] ?? '';
  const body = Buffer.alloc(o.bodyBytes, 97);
  // One second at the same rate first, not counted: the new process's own compile and warm-up.
  pacedRun(url, { rate: o.rate, seconds: 1, body }).then(() => pacedRun(url, { rate: o.rate, seconds: o.seconds, body })).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`paced client failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
