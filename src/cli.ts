import axios from 'axios';

/** One row of `GET /system/functions`. */
interface FunctionRow {
  readonly name: string;
  readonly namespace?: string;
  readonly replicas: number;
  readonly availableReplicas?: number;
  readonly invocationCount: number;
}

const USAGE = `usage: alert-scaler list [--gateway URL] [--verbose]
  Lists functions with their invocations and replicas, like faas-cli list.
  --gateway   gateway URL (default $OPENFAAS_URL or http://127.0.0.1:8080)
  Basic auth: ALERT_SCALER_BASIC_AUTH_USER / ALERT_SCALER_BASIC_AUTH_PASSWORD.
       alert-scaler simulate --stack stack.yml --trace <file | builtin:NAME> ...
  Replays a load trace on a virtual clock (run it without options for its usage).`;

/** Formats rows as the faas-cli list table. Pure. */
export function formatList(rows: readonly FunctionRow[], verbose: boolean): string {
  const header = verbose ? ['Function', 'Invocations', 'Replicas', 'Available'] : ['Function', 'Invocations', 'Replicas'];
  const lines = [...rows]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => {
      const cells = [r.name, String(r.invocationCount), String(r.replicas)];
      if (verbose) cells.push(String(r.availableReplicas ?? 0));
      return cells;
    });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  return [header, ...lines].map((cells) => cells.map((c, i) => c.padEnd((widths[i] ?? 0) + 4)).join('').trimEnd()).join('\n');
}

/** Parses argv (after the command name). */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { command: string; gateway: string; verbose: boolean } {
  let gateway = env['OPENFAAS_URL'] ?? 'http://127.0.0.1:8080';
  let verbose = false;
  const [command = '', ...rest] = argv;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (arg === '--gateway' || arg === '-g') gateway = rest[++i] ?? '';
    else if (arg.startsWith('--gateway=')) gateway = arg.slice('--gateway='.length);
    else if (arg === '--verbose' || arg === '-v') verbose = true;
    else throw new Error(`unknown option ${arg}`);
  }
  if (gateway === '') throw new Error('--gateway needs a URL');
  return { command, gateway, verbose };
}

/** Runs the CLI; returns the exit code. */
export async function runCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let args;
  if (argv[0] === 'simulate') {
    const { runSimulate } = await import('./sim/cli.js');
    return runSimulate(argv.slice(1), out, err);
  }
  try {
    args = parseArgs(argv, env);
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.command !== 'list' && args.command !== 'ls') {
    err(`${USAGE}\n`);
    return 2;
  }
  const user = env['ALERT_SCALER_BASIC_AUTH_USER'];
  const password = env['ALERT_SCALER_BASIC_AUTH_PASSWORD'];
  try {
    const res = await axios.get<FunctionRow[]>(new URL('/system/functions', args.gateway).toString(), {
      timeout: 10_000,
      ...(user !== undefined && password !== undefined ? { auth: { username: user, password } } : {}),
    });
    out(`${formatList(res.data, args.verbose)}\n`);
    return 0;
  } catch (e) {
    const status = axios.isAxiosError(e) ? e.response?.status : undefined;
    err(`cannot list functions from ${args.gateway}: ${status === undefined ? (e as Error).message : `HTTP ${status}`}\n`);
    return 1;
  }
}
