import { AppError } from '../errors.js';
import type { Command } from './context.js';
import { formatTable, json, utc } from './table.js';

/** One dead letter as `GET /system/async/dead-letters` lists it. */
export interface DeadLetterRow {
  readonly id: string;
  readonly function: string;
  readonly attempts: number;
  readonly reason: string;
  readonly at: string;
}

/** The dead-letter table. Pure. */
export function formatDeadLetters(rows: readonly DeadLetterRow[]): string {
  return formatTable(['CALL_ID', 'FUNCTION', 'ATTEMPTS', 'REASON', 'AT'], rows.map((d) => [d.id, d.function, String(d.attempts), d.reason, utc(d.at)]));
}

/**
 * `alert-scaler dead-letters`: the async calls given up on; `dead-letters replay <call-id>`
 * queues one again.
 */
export const deadLetters: Command = async ({ args, client, out }) => {
  const [verb, id] = args.positionals;
  if (verb === 'replay' && id !== undefined && args.positionals.length === 2) {
    await client.json('POST', `/system/async/dead-letters/${encodeURIComponent(id)}/replay`);
    out(`replayed ${id}\n`);
    return 0;
  }
  if (args.positionals.length !== 0) throw new AppError('USAGE', 'dead-letters takes no argument, or replay <call-id>');
  const rows = await client.json<DeadLetterRow[]>('GET', '/system/async/dead-letters?limit=1000');
  if (args.output === 'json') out(json(rows));
  else out(`${formatDeadLetters(rows)}\n`);
  return 0;
};
