import type { FunctionDetail, FunctionSummary } from '../api/status.js';
import type { EventView } from '../api/events.js';
import type { CliArgs } from './args.js';
import type { GatewayClient } from './http.js';

/** What every command gets: its arguments, the gateway client, the outputs, stdin, a stop signal. */
export interface CommandContext {
  readonly args: CliArgs;
  readonly client: GatewayClient;
  out(text: string): void;
  err(text: string): void;
  /** The body for `invoke` (stdin in the binary). */
  readStdin(): Promise<Buffer>;
  /** Aborts a `--follow` (SIGINT in the binary). */
  readonly signal: AbortSignal;
}

/** A command: prints its result and resolves with the exit code; throws AppError USAGE or GATEWAY_FAILED. */
export type Command = (ctx: CommandContext) => Promise<number>;

/** One function of `GET /system/functions` (states and queueLength absent from older gateways). */
export interface FunctionRow extends Partial<FunctionSummary> {
  readonly name: string;
  readonly namespace?: string;
  readonly replicas: number;
  readonly availableReplicas?: number;
  readonly invocationCount: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** `GET /system/function/<name>` (status, crashLoop and lastCrash absent from older gateways). */
export type FunctionBody = FunctionRow &
  Omit<FunctionDetail, 'crashLoop' | 'status' | 'lastCrash'> & { readonly crashLoop?: FunctionDetail['crashLoop']; readonly status?: FunctionDetail['status']; readonly lastCrash?: FunctionDetail['lastCrash'] };

export type { EventView };

/** The path segment of a function name (`name` or `name.namespace`), escaped. */
export function fnPath(name: string): string {
  return encodeURIComponent(name);
}
