import { Router, type Request } from 'express';
import { eventsToCsv, type EngineEvent, type EventLog, type EventQuery } from '../engine/events.js';
import { AppError } from '../errors.js';
import { functionLabel, parseFunctionRef, type ReplicaProvider } from '../providers/types.js';

/** Events answered when `limit` is absent. */
export const DEFAULT_EVENT_LIMIT = 100;

/** An event as the JSON API shows it: the time as ISO-8601 UTC. */
export type EventView = Omit<EngineEvent, 'time'> & { readonly time: string };

function bad(parameter: string, message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError('BAD_REQUEST', `query parameter ${parameter} ${message}`, { details: { parameter, ...details } });
}

/** One query parameter as a single string; undefined when absent; a repeated one is a 400. */
function single(req: Request, parameter: string): string | undefined {
  const value = req.query[parameter];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw bad(parameter, 'must be given once, as a string');
  return value;
}

/** `since`: epoch milliseconds (digits) or an ISO-8601 date-time with a zone; epoch ms out. */
export function parseSince(value: string): number {
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw bad('since', 'must be an ISO-8601 date-time with a zone (2026-01-02T03:04:05Z) or epoch milliseconds');
  return ms;
}

/** `limit`: an integer from 1 to the log's capacity. */
export function parseLimit(value: string, max: number): number {
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw bad('limit', `must be an integer from 1 to ${max}`, { max });
  return n;
}

/** `lifecycle`: `true` (the default) or `false` (leave out the routine replica lifecycle steps). */
export function parseLifecycle(value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw bad('lifecycle', 'must be true or false');
}

/** CSV when `?format=csv`, or when `Accept` prefers text/csv and `format` is absent. */
function wantsCsv(req: Request): boolean {
  const format = single(req, 'format');
  if (format === undefined) return req.accepts(['application/json', 'text/csv']) === 'text/csv';
  if (format === 'csv') return true;
  if (format === 'json') return false;
  throw bad('format', 'must be json or csv');
}

/**
 * `GET /system/events?function=&since=&limit=&format=&lifecycle=`: the engine's decisions (changes and
 * unchanged ones, with reason and inputs) and replica lifecycle events (`lifecycle=false`:
 * without the routine steps, LIFECYCLE_ACTIONS; the limit counts what is left), oldest first, the
 * newest `limit` (default DEFAULT_EVENT_LIMIT, at most the log's size). JSON by default;
 * `text/csv` as `time,action,target,status` with `Accept: text/csv` or `?format=csv`.
 * `function` takes `name` or `name.namespace`. A function with no event that the provider
 * does not know either is a 404 FUNCTION_UNKNOWN (a typo is not an empty history); one it
 * knows, or whose events are still in the log after it went away, answers what there is.
 */
export function eventsRouter(deps: { events: EventLog; provider: ReplicaProvider; defaultNamespace: string }): Router {
  const router = Router();
  router.get('/events', async (req, res) => {
    const name = single(req, 'function');
    const since = single(req, 'since');
    const limit = single(req, 'limit');
    const lifecycle = single(req, 'lifecycle');
    const csv = wantsCsv(req);
    if (name === '') throw bad('function', 'must not be empty');
    const ref = name === undefined ? undefined : parseFunctionRef(name, deps.defaultNamespace);
    const query: EventQuery = {
      ...(ref === undefined ? {} : { function: functionLabel(ref, deps.defaultNamespace) }),
      ...(since === undefined ? {} : { since: parseSince(since) }),
      ...(lifecycle === undefined ? {} : { lifecycle: parseLifecycle(lifecycle) }),
      limit: limit === undefined ? Math.min(DEFAULT_EVENT_LIMIT, deps.events.capacity) : parseLimit(limit, deps.events.capacity),
    };
    const events = deps.events.query(query);
    // Throws FUNCTION_UNKNOWN (404) for a function the provider does not know.
    if (ref !== undefined && events.length === 0 && query.function !== undefined && deps.events.query({ function: query.function, limit: 1 }).length === 0) {
      await deps.provider.getReplicas(ref);
    }
    if (csv) {
      res.type('text/csv').send(eventsToCsv(events));
      return;
    }
    res.json(events.map((e): EventView => ({ ...e, time: new Date(e.time).toISOString() })));
  });
  return router;
}
