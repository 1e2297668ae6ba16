import type { Readable } from 'node:stream';

/*
 * The readiness pipe: a replica may say it serves by writing one line `ready` to fd 3 (named
 * in its environment), so the held call goes at once instead of after a health probe. The
 * probe stays the contract: a replica that does not write is found by `GET /_/health`.
 */

/**
 * The environment variable that tells a replica which file descriptor is its readiness pipe
 * (always 3): a replica may write one line `ready` to it once it serves, and is ready at that
 * moment without waiting for a health probe. Replicas that do not are found by the probes.
 */
export const READY_FD_ENV = 'ALERT_SCALER_READY_FD';
/** The replica's readiness pipe: its fd 3. */
export const READY_FD = 3;
/** The longest first line read from a readiness pipe, bytes; a longer one is no signal (the rest is read and dropped). */
export const READY_LINE_MAX_BYTES = 64;

/**
 * Reads a readiness pipe's first line from its chunks so far: `ready` (surrounding blanks
 * ignored) when the first line says so, `other` for any other first line or a first line
 * longer than READY_LINE_MAX_BYTES, `partial` while the first line is still incomplete.
 */
export function readyLine(buffered: string): 'ready' | 'other' | 'partial' {
  const end = buffered.indexOf('\n');
  if (end === -1) return buffered.length > READY_LINE_MAX_BYTES ? 'other' : 'partial';
  if (end > READY_LINE_MAX_BYTES) return 'other';
  return buffered.slice(0, end).trim() === 'ready' ? 'ready' : 'other';
}

/**
 * Watches a replica's readiness pipe: `onVerdict` runs once, with `ready` when its first
 * line (or all it wrote before closing it) is `ready`, else with `other` (another line, or
 * the pipe closed first). At most READY_LINE_MAX_BYTES + 1 bytes are kept; the rest is read
 * and dropped, so a replica writing more never blocks on the pipe.
 */
export function watchReadyPipe(pipe: Readable, onVerdict: (verdict: 'ready' | 'other') => void): void {
  let buffered = '';
  let decided = false;
  const decide = (verdict: 'ready' | 'other' | 'partial') => {
    if (verdict === 'partial') return;
    decided = true;
    onVerdict(verdict);
  };
  pipe.on('data', (chunk: Buffer) => {
    if (decided) return;
    buffered = (buffered + chunk.toString('latin1')).slice(0, READY_LINE_MAX_BYTES + 1);
    decide(readyLine(buffered));
  });
  pipe.once('end', () => {
    if (!decided) decide(readyLine(`${buffered}\n`));
  });
  // A pipe that fails is no signal; the health probes still find the replica.
  pipe.on('error', () => undefined);
}

/**
 * How long the health probes of a replica hold off after its spawn when it is expected to
 * say `ready` on its pipe (its function's last replica did), ms. A probe's request reaching
 * a fresh process first costs the held call the process's cold first answer (several ms on
 * a loaded machine), so the probes wait; after this they run as the fallback.
 */
export const PIPE_GRACE_MS = 1000;

/**
 * How long a starting replica's probes still hold off, `sinceSpawnMs` after its spawn: the
 * rest of PIPE_GRACE_MS while its pipe is expected to speak, else 0 (probe now). Pure.
 */
export function probeHoldOffMs(sinceSpawnMs: number, expectPipe: boolean): number {
  return expectPipe && sinceSpawnMs < PIPE_GRACE_MS ? PIPE_GRACE_MS - Math.max(0, sinceSpawnMs) : 0;
}
