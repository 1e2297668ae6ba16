import { parseArgs } from './cli/args.js';
import type { Command, CommandContext } from './cli/context.js';
import { describe } from './cli/describe.js';
import { events } from './cli/events.js';
import { GatewayClient } from './cli/http.js';
import { invoke } from './cli/invoke.js';
import { list } from './cli/list.js';
import { queue } from './cli/queue.js';
import { scale } from './cli/scale.js';
import { workers } from './cli/workers.js';
import { isAppError } from './errors.js';

export { formatList } from './cli/list.js';
export { parseArgs } from './cli/args.js';

/** Exit codes: 0 ok, 1 the gateway failed (unreachable, an error answer), 2 bad usage. */
export const EXIT = { ok: 0, gateway: 1, usage: 2 } as const;

export const USAGE = `usage: alert-scaler <command> [--gateway URL] [-o table|json|wide]
  list                   functions: invocations and replicas (like faas-cli list)
  describe <fn>          one function: status, replicas, labels, policy and queue
  workers <fn> [--all]   its replicas: ID, STATUS, DETAIL_STATUS (FREE/BUSY), CREATED_AT, DELETED_AT
                         (--all: also the ones removed, from the gateway's event log)
  queue <fn>             its waiting requests: QUEUE_INDEX, CREATE_AT, QUEUE_REASON (WorkerBusy/NoReplica)
  events [fn] [--follow] the scaler's decisions and replica lifecycle; --follow keeps printing
  scale <fn> <n>         sets the replica count by hand
  invoke <fn>            calls the function with stdin as the body, prints the answer
  simulate ...           replays a load trace on a virtual clock (run it alone for its usage)
  <fn> is name or name.namespace. Times are UTC ISO-8601. -o json is stable for scripts
  (events --follow -o json: one event per line); --verbose is -o wide.
  --gateway   gateway URL, its admin listener (default $OPENFAAS_URL or http://127.0.0.1:8081)
  Basic auth: ALERT_SCALER_BASIC_AUTH_USER / ALERT_SCALER_BASIC_AUTH_PASSWORD.
  Exit codes: 0 ok, 1 gateway error, 2 usage.`;

const COMMANDS: Readonly<Record<string, Command>> = { list, ls: list, describe, workers, queue, events, scale, invoke };

/** What the binary gives besides argv and env: stdin for `invoke`, and a stop for `events --follow`. */
export interface CliIo {
  readonly readStdin?: () => Promise<Buffer>;
  readonly signal?: AbortSignal;
}

/** Runs the CLI; returns the exit code (EXIT). Never throws. */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  out: (s: string) => void,
  err: (s: string) => void,
  io: CliIo = {},
): Promise<number> {
  if (argv[0] === 'simulate') {
    const { runSimulate } = await import('./sim/cli.js');
    return runSimulate(argv.slice(1), out, err);
  }
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    (argv.length === 0 ? err : out)(`${USAGE}\n`);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  try {
    const args = parseArgs(argv, env);
    const command = COMMANDS[args.command];
    if (command === undefined) {
      err(`unknown command ${JSON.stringify(args.command)}\n${USAGE}\n`);
      return EXIT.usage;
    }
    const ctx: CommandContext = {
      args,
      client: new GatewayClient(args.gateway, env),
      out,
      err,
      readStdin: io.readStdin ?? (async () => Buffer.alloc(0)),
      signal: io.signal ?? new AbortController().signal,
    };
    return await command(ctx);
  } catch (e) {
    if (isAppError(e, 'USAGE')) {
      err(`${e.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (isAppError(e, 'GATEWAY_FAILED')) {
      err(`${e.message}\n`);
      return EXIT.gateway;
    }
    err(`unexpected error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.gateway;
  }
}
