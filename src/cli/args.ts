import { DEFAULT_HEARTBEAT_MS } from '../api/stream.js';
import { AppError } from '../errors.js';
import { parseDurationMs } from '../policy/duration.js';
import { redactCredentials } from './gateway-url.js';

/** How results are printed: an aligned table, more columns, or stable JSON for scripts. */
export type OutputFormat = 'table' | 'wide' | 'json';

/** The command line, parsed: the command, its positional arguments and the shared options. */
export interface CliArgs {
  readonly command: string;
  readonly positionals: readonly string[];
  readonly gateway: string;
  readonly output: OutputFormat;
  /** `events --follow`: keep printing events as they happen. */
  readonly follow: boolean;
  /** `workers --all`: also the replicas removed (from the event log). */
  readonly all: boolean;
  /** `events --no-lifecycle`: false to leave out the routine replica lifecycle steps; true (keep them) otherwise. */
  readonly lifecycle: boolean;
  /** `--timeout`: longest wait for one whole answer of the gateway, ms. */
  readonly timeoutMs: number;
  /** `--connect-timeout`: `events --follow`: longest wait for the stream's head and first byte, ms. */
  readonly connectTimeoutMs: number;
  /** `--idle-timeout`: `events --follow`: longest silence (no event, no heartbeat) once it is open, ms. */
  readonly idleTimeoutMs: number;
}

/**
 * Gateway when neither `--gateway` nor OPENFAAS_URL says otherwise: the admin listener
 * (`/system/*`; `invoke` works there too, its function answers sandboxed).
 */
export const DEFAULT_GATEWAY = 'http://127.0.0.1:8081';
/** `--timeout` when not given: one whole answer (list, describe, scale, invoke, ...). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** `--connect-timeout` when not given: the event stream's head and first byte. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** `--idle-timeout` when not given: three of the gateway's heartbeat intervals without a byte. */
export const DEFAULT_IDLE_TIMEOUT_MS = 3 * DEFAULT_HEARTBEAT_MS;

/** `-h`/`--help` among the arguments (before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

function usage(message: string): AppError {
  return new AppError('USAGE', message);
}

/** A positive duration (`500ms`, `10s`, `1m`; a bare number is seconds), ms. */
function durationOf(value: string, name: string): number {
  const ms = parseDurationMs(value);
  if (ms === null || ms <= 0) throw usage(`${name} must be a positive duration like 10s or 500ms, not ${JSON.stringify(value)}`);
  return ms;
}

function outputFormat(value: string): OutputFormat {
  if (value === 'table' || value === 'wide' || value === 'json') return value;
  throw usage(`-o must be table, wide or json, not ${JSON.stringify(value)}`);
}

/**
 * Parses argv (command first): `--gateway URL` (`-g`, `--gateway=URL`; default $OPENFAAS_URL,
 * then DEFAULT_GATEWAY), `-o table|json|wide` (`--output`, `-o=`), `--verbose` (`-v`, the same
 * as `-o wide`), `--follow` (`-f`), `--all`, `--no-lifecycle`, and the durations `--timeout`,
 * `--connect-timeout`, `--idle-timeout` (also with `=`). Throws AppError USAGE; a message
 * that quotes the gateway URL shows its password as `***`.
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliArgs {
  let gateway = env['OPENFAAS_URL'] ?? DEFAULT_GATEWAY;
  let output: OutputFormat = 'table';
  let follow = false;
  let all = false;
  let lifecycle = true;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  let idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS;
  const positionals: string[] = [];
  const [command = '', ...rest] = argv;
  const valueOf = (i: number, name: string): string => {
    const value = rest[i];
    if (value === undefined || value === '') throw usage(`${name} needs a value`);
    return value;
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (arg === '--gateway' || arg === '-g') gateway = valueOf(++i, arg);
    else if (arg.startsWith('--gateway=')) gateway = arg.slice('--gateway='.length);
    else if (arg === '-o' || arg === '--output') output = outputFormat(valueOf(++i, arg));
    else if (arg.startsWith('-o=') || arg.startsWith('--output=')) output = outputFormat(arg.slice(arg.indexOf('=') + 1));
    else if (arg === '--verbose' || arg === '-v') output = 'wide';
    else if (arg === '--follow' || arg === '-f') follow = true;
    else if (arg === '--all') all = true;
    else if (arg === '--no-lifecycle') lifecycle = false;
    else if (arg === '--timeout') timeoutMs = durationOf(valueOf(++i, arg), arg);
    else if (arg === '--connect-timeout') connectTimeoutMs = durationOf(valueOf(++i, arg), arg);
    else if (arg === '--idle-timeout') idleTimeoutMs = durationOf(valueOf(++i, arg), arg);
    else if (/^--(timeout|connect-timeout|idle-timeout)=/.test(arg)) {
      const eq = arg.indexOf('=');
      const name = arg.slice(0, eq);
      const ms = durationOf(arg.slice(eq + 1), name);
      if (name === '--timeout') timeoutMs = ms;
      else if (name === '--connect-timeout') connectTimeoutMs = ms;
      else idleTimeoutMs = ms;
    }
    else if (arg === '--') {
      positionals.push(...rest.slice(i + 1));
      break;
    }
    else if (arg.startsWith('-') && arg !== '-') throw usage(`unknown option ${redactCredentials(arg)}`);
    else positionals.push(arg);
  }
  if (gateway === '') throw usage('--gateway needs a URL');
  try {
    const url = new URL(gateway);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw usage(`--gateway must be an http(s) URL, not ${JSON.stringify(redactCredentials(gateway))}`);
  }
  return { command, positionals, gateway, output, follow, all, lifecycle, timeoutMs, connectTimeoutMs, idleTimeoutMs };
}

/** Exactly `count` positional arguments named `names` (for the usage message), or USAGE. */
export function expectPositionals(args: CliArgs, names: readonly string[]): string[] {
  if (args.positionals.length !== names.length) {
    throw usage(`${args.command} takes ${names.length === 0 ? 'no argument' : names.map((n) => `<${n}>`).join(' ')}, got ${args.positionals.length === 0 ? 'none' : args.positionals.join(' ')}`);
  }
  return [...args.positionals];
}
