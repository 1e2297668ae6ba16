import { LIFECYCLE_ACTIONS } from '../core/events.js';
import { AppError } from '../errors.js';
import type { CommandContext, EventView } from './context.js';
import { formatRow, formatTable, json, utc } from './table.js';

const HEADER = ['TIME', 'FUNCTION', 'SOURCE', 'ACTION', 'REPLICA', 'FROM', 'TO', 'REASON'];
/** Widths a followed table starts with, so later rows mostly line up. */
const FOLLOW_WIDTHS = [24, 12, 6, 19, 12, 4, 4, 0];

/** One event as table cells; a replica lifecycle event has no from/to of its own. Pure. */
export function eventCells(e: EventView, wide: boolean): string[] {
  const lifecycle = e.replica !== undefined;
  const cells = [utc(e.time), e.function, e.source, e.action, e.replica ?? '-', lifecycle ? '-' : String(e.from), lifecycle ? '-' : String(e.to), e.reason];
  if (wide) cells.push(Object.keys(e.inputs).length === 0 ? '-' : JSON.stringify(e.inputs));
  return cells;
}

/** The events table (`wide` adds INPUTS). Pure. */
export function formatEvents(events: readonly EventView[], wide: boolean): string {
  return formatTable(wide ? [...HEADER, 'INPUTS'] : HEADER, events.map((e) => eventCells(e, wide)));
}

/** The events query: `function=` when one is named, `lifecycle=false` for `--no-lifecycle`. */
function query(name: string | undefined, lifecycle = true): string {
  const params = [...(name === undefined ? [] : [`function=${encodeURIComponent(name)}`]), ...(lifecycle ? [] : ['lifecycle=false'])];
  return params.length === 0 ? '' : `?${params.join('&')}`;
}

/**
 * `alert-scaler events [fn] [--follow] [--no-lifecycle]`: the engine's decisions and replica
 * lifecycle, oldest first (the gateway's newest 100; `--no-lifecycle`: without the routine
 * replica steps). `--follow` keeps printing new ones from the live stream until interrupted;
 * with `-o json` each event is then one JSON line.
 */
export async function events(ctx: CommandContext): Promise<number> {
  const { args, client, out } = ctx;
  if (args.positionals.length > 1) throw new AppError('USAGE', `events takes at most one <fn>, got ${args.positionals.join(' ')}`);
  const name = args.positionals[0];
  const wide = args.output === 'wide';
  if (!args.follow) {
    const list = await client.json<EventView[]>('GET', `/system/events${query(name, args.lifecycle)}`);
    out(args.output === 'json' ? json(list) : `${formatEvents(list, wide)}\n`);
    return 0;
  }
  // Follow: the stream opens first (what happens meanwhile waits in it, nothing is missed),
  // the history prints, then the live events the history did not already hold.
  let widths: number[] = [];
  const print = (e: EventView) => out(args.output === 'json' ? `${JSON.stringify(e)}\n` : `${formatRow(eventCells(e, wide), widths)}\n`);
  let seen = new Set<string>();
  await client.follow(
    `/system/stream${query(name)}`,
    (event, data) => {
      if (event !== 'engine' || seen.has(data)) return;
      const e = JSON.parse(data) as EventView;
      if (!args.lifecycle && LIFECYCLE_ACTIONS.has(e.action)) return;
      print(e);
    },
    ctx.signal,
    async () => {
      const history = await client.json<EventView[]>('GET', `/system/events${query(name, args.lifecycle)}`);
      const header = wide ? [...HEADER, 'INPUTS'] : HEADER;
      const rows = history.map((e) => eventCells(e, wide));
      widths = header.map((h, i) => Math.max(h.length, FOLLOW_WIDTHS[i] ?? 0, ...rows.map((r) => (r[i] ?? '').length)));
      if (args.output !== 'json') out(`${formatRow(header, widths)}\n`);
      for (const e of history) print(e);
      seen = new Set(history.map((e) => JSON.stringify(e)));
    },
  );
  return 0;
}
