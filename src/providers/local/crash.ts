import type { CrashReason } from '../types.js';

/** Longest cause line of a crash, characters. */
const MESSAGE_CHARS = 300;

/**
 * The one line that names why a replica ended: what happened, then its last stderr line
 * (`replica exited with code 127: sh: 1: exec: FN=x: not found`), at most MESSAGE_CHARS. Pure.
 */
export function crashMessage(
  crash: { readonly reason: CrashReason; readonly code: number | null; readonly signal: string | null; readonly stderr: readonly string[] },
  detail: { readonly startTimeoutMs: number; readonly error?: string },
): string {
  const head = {
    'spawn-failed': () => `replica could not be started: ${detail.error ?? 'unknown error'}`,
    'start-timeout': () => `replica not ready within ${detail.startTimeoutMs} ms`,
    signal: () => `replica was killed by signal ${crash.signal ?? 'unknown'}`,
    exited: () => `replica exited with code ${crash.code ?? 'unknown'}`,
  }[crash.reason]();
  const last = crash.stderr.at(-1)?.trim() ?? '';
  const text = last === '' ? head : `${head}: ${last}`;
  return text.length <= MESSAGE_CHARS ? text : `${text.slice(0, MESSAGE_CHARS - 1)}…`;
}
