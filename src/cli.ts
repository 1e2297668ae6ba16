import { parseArgs, wantsHelp } from './cli/args.js';
import type { Command, CommandContext } from './cli/context.js';
import { describe } from './cli/describe.js';
import { events } from './cli/events.js';
import { redactCredentials } from './cli/gateway-url.js';
import { GatewayClient } from './cli/http.js';
import { invoke } from './cli/invoke.js';
import { list } from './cli/list.js';
import { queue } from './cli/queue.js';
import { deadLetters } from './cli/dead-letters.js';
import { scale } from './cli/scale.js';
import { workers } from './cli/workers.js';
import { isAppError } from './errors.js';

export { formatList } from './cli/list.js';
export { parseArgs } from './cli/args.js';

/** Exit codes: 0 ok, 1 the gateway failed (unreachable, an error answer), 2 bad usage. */
export const EXIT = { ok: 0, gateway: 1, usage: 2 } as const;

/** The options every gateway command takes (its --help ends with them). */
const OPTIONS = `  --gateway URL          gateway admin listener (default $OPENFAAS_URL or http://127.0.0.1:8081); credentials in it
                         (http://user:password@host) are sent as basic auth and shown as user:***
  -o table|json|wide     output (--verbose is -o wide); -o json is stable for scripts
  --timeout D            longest wait for one answer of the gateway (default 30s; D like 500ms, 10s, 1m)
  Basic auth otherwise: ALERT_SCALER_BASIC_AUTH_USER / ALERT_SCALER_BASIC_AUTH_PASSWORD.
  Exit codes: 0 ok, 1 gateway error (unreachable, no answer in time, an error answer), 2 usage.`;

export const USAGE = `usage: alert-scaler <command> [--gateway URL] [-o table|json|wide] [--timeout D]
  list                   functions: invocations and replicas (like faas-cli list)
  describe <fn>          one function: status, replicas, labels, policy and queue
  workers <fn> [--all]   its replicas: ID, STATUS, DETAIL_STATUS (FREE/BUSY), CREATED_AT, DELETED_AT
                         (--all: also the ones removed, from the gateway's event log)
  queue <fn>             its waiting requests: QUEUE_INDEX, CREATE_AT, QUEUE_REASON (WorkerBusy/NoReplica)
  dead-letters [replay <call-id>]  async calls given up on; replay queues one again
  events [fn] [--follow] the scaler's decisions and replica lifecycle; --follow keeps printing;
                         --no-lifecycle: decisions (and crashes) only
  scale <fn> <n>         sets the replica count by hand
  invoke <fn>            calls the function with stdin as the body, prints the answer
  simulate ...           replays a load trace on a virtual clock (simulate --help for its usage)
  <fn> is name or name.namespace. Times are UTC ISO-8601. <command> --help: its own usage.
  (events --follow -o json: one event per line)
${OPTIONS}`;

/** Each command's own usage (`alert-scaler <command> --help`): what it does, then OPTIONS. */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  list: `usage: alert-scaler list [options]
  The functions with their invocations and replicas, like faas-cli list (-o wide: by state, queue).`,
  describe: `usage: alert-scaler describe <fn> [options]
  One function (name or name.namespace): status, replicas, labels, policy and queue.`,
  workers: `usage: alert-scaler workers <fn> [--all] [options]
  The function's replicas: ID, STATUS, DETAIL_STATUS (FREE/BUSY), CREATED_AT, DELETED_AT.
  --all                  also the replicas removed (from the gateway's event log)`,
  queue: `usage: alert-scaler queue <fn> [options]
  The function's waiting requests: QUEUE_INDEX, CREATE_AT, QUEUE_REASON (WorkerBusy/NoReplica).`,
  'dead-letters': `usage: alert-scaler dead-letters [replay <call-id>] [options]
  The asynchronous calls given up on (CALL_ID, FUNCTION, ATTEMPTS, REASON, AT); replay queues one again.`,
  events: `usage: alert-scaler events [fn] [--follow] [--no-lifecycle] [options]
  The scaler's decisions and replica lifecycle (the gateway's newest 100), oldest first.
  --follow, -f           then keep printing new ones until Ctrl-C (-o json: one event per line)
  --no-lifecycle         leave out the routine replica steps (scale_up_start, scale_up_complete,
                         drain_start, scale_down_complete); decisions and crashes stay
  --connect-timeout D    --follow: longest wait for the stream's head and first byte (default 10s)
  --idle-timeout D       --follow: give up after D with no event and no heartbeat (default 45s,
                         three of the gateway's 15 s heartbeats)`,
  scale: `usage: alert-scaler scale <fn> <n> [options]
  Sets the function's replica count by hand (clamped to its max).`,
  invoke: `usage: alert-scaler invoke <fn> [options]
  Calls the function with stdin as the body and prints its answer.`,
};
const COMMANDS: Readonly<Record<string, Command>> = { list, ls: list, describe, workers, queue, 'dead-letters': deadLetters, events, scale, invoke };

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
  // Whatever the CLI says on stderr names the gateway without its password.
  const errOut = (text: string): void => err(redactCredentials(text));
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    const topic = argv[0] === 'help' ? (argv[1] === 'ls' ? 'list' : argv[1]) : undefined;
    if (topic === 'simulate') return runCli(['simulate', '--help'], env, out, err, io);
    if (topic !== undefined && COMMAND_USAGE[topic] !== undefined) return runCli([topic, '--help'], env, out, err, io);
    (argv.length === 0 ? errOut : out)(`${USAGE}\n`);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const name = argv[0] === 'ls' ? 'list' : (argv[0] ?? '');
  if (wantsHelp(argv.slice(1))) {
    const text = COMMAND_USAGE[name];
    if (text === undefined) {
      errOut(`unknown command ${JSON.stringify(name)}\n${USAGE}\n`);
      return EXIT.usage;
    }
    out(`${text}\n${OPTIONS}\n`);
    return EXIT.ok;
  }
  try {
    const args = parseArgs(argv, env);
    const command = COMMANDS[args.command];
    if (command === undefined) {
      errOut(`unknown command ${JSON.stringify(args.command)}\n${USAGE}\n`);
      return EXIT.usage;
    }
    const ctx: CommandContext = {
      args,
      client: new GatewayClient(args.gateway, env, args),
      out,
      err: errOut,
      readStdin: io.readStdin ?? (async () => Buffer.alloc(0)),
      signal: io.signal ?? new AbortController().signal,
    };
    return await command(ctx);
  } catch (e) {
    if (isAppError(e, 'USAGE')) {
      errOut(`${e.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (isAppError(e, 'GATEWAY_FAILED')) {
      errOut(`${e.message}\n`);
      return EXIT.gateway;
    }
    errOut(`unexpected error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.gateway;
  }
}
