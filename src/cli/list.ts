import { expectPositionals } from './args.js';
import type { Command, FunctionRow } from './context.js';
import { formatTable, json } from './table.js';

const STATES = ['starting', 'free', 'busy', 'draining'] as const;

/** The faas-cli list table (`-o wide`: namespace, available replicas, replicas by state, queue). Pure. */
export function formatList(rows: readonly FunctionRow[], wide: boolean): string {
  const sorted = [...rows].sort((a, b) => a.name.localeCompare(b.name) || (a.namespace ?? '').localeCompare(b.namespace ?? ''));
  if (!wide) return formatTable(['Function', 'Invocations', 'Replicas'], sorted.map((r) => [r.name, String(r.invocationCount), String(r.replicas)]));
  return formatTable(
    ['Function', 'Namespace', 'Invocations', 'Replicas', 'Available', 'Starting', 'Free', 'Busy', 'Draining', 'Queued'],
    sorted.map((r) => [
      r.name,
      r.namespace ?? '-',
      String(r.invocationCount),
      String(r.replicas),
      String(r.availableReplicas ?? 0),
      ...STATES.map((s) => String(r.states?.[s] ?? 0)),
      String(r.queueLength ?? 0),
    ]),
  );
}

/** `alert-scaler list`: the functions, like `faas-cli list`. */
export const list: Command = async ({ args, client, out }) => {
  expectPositionals(args, []);
  const rows = await client.json<FunctionRow[]>('GET', '/system/functions');
  if (args.output === 'json') out(json([...rows].sort((a, b) => a.name.localeCompare(b.name))));
  else out(`${formatList(rows, args.output === 'wide')}\n`);
  return 0;
};
