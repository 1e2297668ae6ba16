import type { QueueView } from '../api/status.js';
import { expectPositionals } from './args.js';
import { fnPath, type Command, type FunctionBody } from './context.js';
import { formatTable, json, utc } from './table.js';

/** One waiting request as `alert-scaler queue` prints it. */
export interface QueueRow {
  /** 0 is served next. */
  readonly queueIndex: number;
  /** When it arrived, ISO-8601 UTC. */
  readonly createAt: string;
  /** EverAI's words: WorkerBusy (replicas, none free) or NoReplica (none ready). */
  readonly queueReason: 'WorkerBusy' | 'NoReplica';
}

/** The queue's waiting requests as rows. Pure. */
export function queueRows(queue: QueueView): QueueRow[] {
  return queue.waiting.map((w) => ({ queueIndex: w.index, createAt: w.arrivedAt, queueReason: w.reason === 'busy' ? 'WorkerBusy' : 'NoReplica' }));
}

/** The EverAI queue table (`wide` adds WAITED_MS, measured from `now`). Pure. */
export function formatQueue(rows: readonly QueueRow[], wide: boolean, now: number): string {
  const header = ['QUEUE_INDEX', 'CREATE_AT', 'QUEUE_REASON'];
  const cells = (q: QueueRow) => [String(q.queueIndex), utc(q.createAt), q.queueReason];
  if (!wide) return formatTable(header, rows.map(cells));
  return formatTable([...header, 'WAITED_MS'], rows.map((q) => [...cells(q), String(Math.max(0, now - Date.parse(q.createAt)))]));
}

/** The line under the table for a function's stored async calls; null from a gateway that does not report them. Pure. */
export function asyncBacklogLine(asyncQueueLength: number | undefined): string | null {
  return asyncQueueLength === undefined ? null : `Async backlog: ${asyncQueueLength} stored call${asyncQueueLength === 1 ? '' : 's'} not yet delivered`;
}

/**
 * `alert-scaler queue <fn>`: the requests waiting for the function, like `everai app queue`,
 * then its stored async calls (a line; the JSON output stays the rows).
 */
export const queue: Command = async ({ args, client, out }) => {
  const [name = ''] = expectPositionals(args, ['fn']);
  const fn = await client.json<FunctionBody>('GET', `/system/function/${fnPath(name)}`);
  const rows = queueRows(fn.queue);
  if (args.output === 'json') out(json(rows));
  else {
    const backlog = asyncBacklogLine(fn.asyncQueueLength);
    out(`${formatQueue(rows, args.output === 'wide', Date.now())}\n${backlog === null ? '' : `${backlog}\n`}`);
  }
  return 0;
};
