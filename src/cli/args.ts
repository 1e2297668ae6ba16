import { AppError } from '../errors.js';

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
}

/**
 * Gateway when neither `--gateway` nor OPENFAAS_URL says otherwise: the admin listener
 * (`/system/*`; `invoke` works there too, its function answers sandboxed).
 */
export const DEFAULT_GATEWAY = 'http://127.0.0.1:8081';

function usage(message: string): AppError {
  return new AppError('USAGE', message);
}

function outputFormat(value: string): OutputFormat {
  if (value === 'table' || value === 'wide' || value === 'json') return value;
  throw usage(`-o must be table, wide or json, not ${JSON.stringify(value)}`);
}

/**
 * Parses argv (command first): `--gateway URL` (`-g`, `--gateway=URL`; default $OPENFAAS_URL,
 * then DEFAULT_GATEWAY), `-o table|json|wide` (`--output`, `-o=`), `--verbose` (`-v`, the same
 * as `-o wide`), `--follow` (`-f`), `--all`. Throws AppError USAGE.
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliArgs {
  let gateway = env['OPENFAAS_URL'] ?? DEFAULT_GATEWAY;
  let output: OutputFormat = 'table';
  let follow = false;
  let all = false;
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
    else if (arg === '--') {
      positionals.push(...rest.slice(i + 1));
      break;
    }
    else if (arg.startsWith('-') && arg !== '-') throw usage(`unknown option ${arg}`);
    else positionals.push(arg);
  }
  if (gateway === '') throw usage('--gateway needs a URL');
  try {
    const url = new URL(gateway);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw usage(`--gateway must be an http(s) URL, not ${JSON.stringify(gateway)}`);
  }
  return { command, positionals, gateway, output, follow, all };
}

/** Exactly `count` positional arguments named `names` (for the usage message), or USAGE. */
export function expectPositionals(args: CliArgs, names: readonly string[]): string[] {
  if (args.positionals.length !== names.length) {
    throw usage(`${args.command} takes ${names.length === 0 ? 'no argument' : names.map((n) => `<${n}>`).join(' ')}, got ${args.positionals.length === 0 ? 'none' : args.positionals.join(' ')}`);
  }
  return [...args.positionals];
}
