import type { CrashLoopView, InstanceView } from '../api/status.js';
import { expectPositionals } from './args.js';
import { fnPath, type Command, type EventView, type FunctionBody } from './context.js';
import { formatTable, json, utc } from './table.js';

/** One worker (replica) as `alert-scaler workers` prints it; times ISO-8601 UTC or null. */
export interface WorkerRow {
  readonly id: string;
  /**
   * PENDING (starting), RUNNING, DRAINING, TERMINATING (stopping), DELETED (gone, from the
   * event log), CRASHED (ended unasked, from the event log), CRASH_LOOP (the function's last
   * crashed replica while its replicas keep crashing).
   */
  readonly status: 'PENDING' | 'RUNNING' | 'DRAINING' | 'TERMINATING' | 'DELETED' | 'CRASHED' | 'CRASH_LOOP';
  /** FREE or BUSY (EverAI's DETAIL_STATUS) while it has a process; null when starting or deleted. */
  readonly detailStatus: 'FREE' | 'BUSY' | null;
  readonly createdAt: string | null;
  readonly deletedAt: string | null;
  readonly inFlight: number;
  readonly served: number | null;
  readonly lastRequestAt: string | null;
  /** CRASH_LOOP only: when the next replica starts (null: starting now or none wanted) and the cause line. */
  readonly nextRetryAt?: string | null;
  readonly lastError?: string;
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

/** The crash-looping function's last crashed replica as a worker row; null when it is not crash-looping. Pure. */
export function crashLoopWorker(loop: CrashLoopView | null | undefined): WorkerRow | null {
  if (loop === null || loop === undefined) return null;
  const { lastExit } = loop;
  return {
    id: lastExit.replica,
    status: 'CRASH_LOOP',
    detailStatus: null,
    createdAt: null,
    deletedAt: lastExit.at,
    inFlight: 0,
    served: null,
    lastRequestAt: null,
    nextRetryAt: loop.nextRetryAt,
    lastError: loop.lastError,
  };
}

/** Replicas the event log saw removed (scale_down_complete) and that are not live now. Pure. */
export function deletedWorkers(events: readonly EventView[], live: ReadonlySet<string>): WorkerRow[] {
  const created = new Map<string, string>();
  const rows: WorkerRow[] = [];
  for (const e of events) {
    if (e.replica === undefined) continue;
    if (e.action === 'scale_up_start' && !created.has(e.replica)) created.set(e.replica, e.time);
    if ((e.action === 'scale_down_complete' || e.action === 'replica_crashed') && !live.has(e.replica)) {
      rows.push({ id: e.replica, status: e.action === 'replica_crashed' ? 'CRASHED' : 'DELETED', detailStatus: null, createdAt: created.get(e.replica) ?? null, deletedAt: e.time, inFlight: 0, served: null, lastRequestAt: null });
    }
  }
  return rows;
}

/**
 * The EverAI worker table (`wide` adds IN_FLIGHT, SERVED, LAST_REQUEST_AT), then one line per
 * CRASH_LOOP row with its next retry and cause. Pure.
 */
export function formatWorkers(rows: readonly WorkerRow[], wide: boolean): string {
  const header = ['ID', 'STATUS', 'DETAIL_STATUS', 'CREATED_AT', 'DELETED_AT'];
  const cells = (w: WorkerRow) => [w.id, w.status, w.detailStatus ?? '-', utc(w.createdAt), utc(w.deletedAt)];
  const table = !wide
    ? formatTable(header, rows.map(cells))
    : formatTable(
        [...header, 'IN_FLIGHT', 'SERVED', 'LAST_REQUEST_AT'],
        rows.map((w) => [...cells(w), String(w.inFlight), w.served === null ? '-' : String(w.served), utc(w.lastRequestAt)]),
      );
  const notes = rows
    .filter((w) => w.status === 'CRASH_LOOP')
    .map((w) => `${w.id}: crash-loop, next retry ${w.nextRetryAt === null || w.nextRetryAt === undefined ? '-' : utc(w.nextRetryAt)}; last error: ${w.lastError ?? '-'}`);
  return notes.length === 0 ? table : `${table}\n${notes.join('\n')}`;
}

/** The last-error line under the table when the function crashed once and recovered (a crash loop has its own row). Pure. */
export function lastErrorNote(fn: Pick<FunctionBody, 'crashLoop' | 'lastCrash'>): string | null {
  if (fn.crashLoop || !fn.lastCrash) return null;
  return `last error: ${fn.lastCrash.at} ${fn.lastCrash.replica}: ${fn.lastCrash.error}`;
}

/** `alert-scaler workers <fn> [--all]`: the function's replicas, like `everai worker list`. */
export const workers: Command = async ({ args, client, out }) => {
  const [name = ''] = expectPositionals(args, ['fn']);
  const fn = await client.json<FunctionBody>('GET', `/system/function/${fnPath(name)}`);
  const rows = fn.instances.map(workerOf);
  const looping = crashLoopWorker(fn.crashLoop);
  if (looping !== null) rows.push(looping);
  if (args.all) {
    const events = await client.json<EventView[]>('GET', `/system/events?function=${encodeURIComponent(name)}`);
    rows.push(...deletedWorkers(events, new Set(rows.map((r) => r.id))));
  }
  if (args.output === 'json') out(json(rows));
  else {
    const note = lastErrorNote(fn);
    out(`${formatWorkers(rows, args.output === 'wide')}\n${note === null ? '' : `${note}\n`}`);
  }
  return 0;
};
