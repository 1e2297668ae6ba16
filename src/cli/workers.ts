import type { InstanceView } from '../api/status.js';
import { expectPositionals } from './args.js';
import { fnPath, type Command, type EventView, type FunctionBody } from './context.js';
import { formatTable, json, utc } from './table.js';

/** One worker (replica) as `alert-scaler workers` prints it; times ISO-8601 UTC or null. */
export interface WorkerRow {
  readonly id: string;
  /** PENDING (starting), RUNNING, DRAINING, TERMINATING (stopping), DELETED (gone, from the event log). */
  readonly status: 'PENDING' | 'RUNNING' | 'DRAINING' | 'TERMINATING' | 'DELETED';
  /** FREE or BUSY (EverAI's DETAIL_STATUS) while it has a process; null when starting or deleted. */
  readonly detailStatus: 'FREE' | 'BUSY' | null;
  readonly createdAt: string | null;
  readonly deletedAt: string | null;
  readonly inFlight: number;
  readonly served: number | null;
  readonly lastRequestAt: string | null;
}

const STATUS: Readonly<Record<InstanceView['state'], WorkerRow['status']>> = {
  starting: 'PENDING',
  free: 'RUNNING',
  busy: 'RUNNING',
  draining: 'DRAINING',
  stopping: 'TERMINATING',
};

/** A live replica as a worker row. Pure. */
export function workerOf(instance: InstanceView): WorkerRow {
  return {
    id: instance.id,
    status: STATUS[instance.state],
    detailStatus: instance.state === 'starting' ? null : instance.inFlight > 0 ? 'BUSY' : 'FREE',
    createdAt: instance.createdAt,
    deletedAt: null,
    inFlight: instance.inFlight,
    served: instance.served,
    lastRequestAt: instance.lastRequestAt,
  };
}

/** Replicas the event log saw removed (scale_down_complete) and that are not live now. Pure. */
export function deletedWorkers(events: readonly EventView[], live: ReadonlySet<string>): WorkerRow[] {
  const created = new Map<string, string>();
  const rows: WorkerRow[] = [];
  for (const e of events) {
    if (e.replica === undefined) continue;
    if (e.action === 'scale_up_start' && !created.has(e.replica)) created.set(e.replica, e.time);
    if (e.action === 'scale_down_complete' && !live.has(e.replica)) {
      rows.push({ id: e.replica, status: 'DELETED', detailStatus: null, createdAt: created.get(e.replica) ?? null, deletedAt: e.time, inFlight: 0, served: null, lastRequestAt: null });
    }
  }
  return rows;
}

/** The EverAI worker table (`wide` adds IN_FLIGHT, SERVED, LAST_REQUEST_AT). Pure. */
export function formatWorkers(rows: readonly WorkerRow[], wide: boolean): string {
  const header = ['ID', 'STATUS', 'DETAIL_STATUS', 'CREATED_AT', 'DELETED_AT'];
  const cells = (w: WorkerRow) => [w.id, w.status, w.detailStatus ?? '-', utc(w.createdAt), utc(w.deletedAt)];
  if (!wide) return formatTable(header, rows.map(cells));
  return formatTable(
    [...header, 'IN_FLIGHT', 'SERVED', 'LAST_REQUEST_AT'],
    rows.map((w) => [...cells(w), String(w.inFlight), w.served === null ? '-' : String(w.served), utc(w.lastRequestAt)]),
  );
}

/** `alert-scaler workers <fn> [--all]`: the function's replicas, like `everai worker list`. */
export const workers: Command = async ({ args, client, out }) => {
  const [name = ''] = expectPositionals(args, ['fn']);
  const fn = await client.json<FunctionBody>('GET', `/system/function/${fnPath(name)}`);
  const rows = fn.instances.map(workerOf);
  if (args.all) {
    const events = await client.json<EventView[]>('GET', `/system/events?function=${encodeURIComponent(name)}`);
    rows.push(...deletedWorkers(events, new Set(rows.map((r) => r.id))));
  }
  if (args.output === 'json') out(json(rows));
  else out(`${formatWorkers(rows, args.output === 'wide')}\n`);
  return 0;
};
