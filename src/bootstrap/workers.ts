/**
 * Several gateway processes sharing the listening ports (config `workers` > 1, Kubernetes
 * provider only): the first process (the node:cluster primary) runs no gateway; it forks the
 * workers, forks again one that dies, passes a stop on to them, and answers their /metrics for
 * all of them. Each worker is a whole gateway (startScaler) and a member of its own, so a
 * replica's hard limit splits by the live member count, exactly as separate gateway pods.
 */
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import type http from 'node:http';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import { mergeMetricTexts } from '../metrics/merge.js';
import { scrapeBody } from '../metrics/render.js';
import type { App } from '../server.js';

/** The environment variable that tells a worker its index (0-based), set by the primary. */
export const WORKER_INDEX_ENV = 'ALERT_SCALER_WORKER_INDEX';
/** How long the primary waits for each worker's metrics text; a worker that does not answer is left out. */
export const SCRAPE_TIMEOUT_MS = 2000;
/** First wait before a dead worker is forked again; doubled while workers keep dying young, up to RESTART_MAX_MS. */
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before it died is forked again after RESTART_BASE_MS. */
const HEALTHY_RUN_MS = 10_000;

/** The messages between the primary and its workers (cluster IPC, JSON). */
type Message =
  | { readonly type: 'alert-scaler:stop' }
  | { readonly type: 'alert-scaler:exit-now' }
  | { readonly type: 'alert-scaler:scrape'; readonly id: number }
  | { readonly type: 'alert-scaler:scraped'; readonly id: number; readonly text: string | null }
  | { readonly type: 'alert-scaler:render'; readonly id: number }
  | { readonly type: 'alert-scaler:rendered'; readonly id: number; readonly text: string };

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' && (value as { type: string }).type.startsWith('alert-scaler:');

/** This process's worker index when it is a cluster worker the primary forked; null otherwise. */
export function workerIndex(): number | null {
  if (!cluster.isWorker) return null;
  const index = Number(process.env[WORKER_INDEX_ENV]);
  return Number.isInteger(index) && index >= 0 ? index : null;
}

/** A worker's config: its own embedded async store (`<asyncDir>/worker-<i>`: one process per log). */
export function workerConfig(config: Config, index: number): Config {
  return Object.freeze({ ...config, asyncDir: join(config.asyncDir, `worker-${index}`) });
}

/** The running primary. */
export interface Primary {
  /** Passes a graceful stop on to every worker (the first call), then an immediate exit (a second). */
  stop(): void;
  /** Resolves once every worker has exited after `stop`: 0 when all exited 0, else 1. */
  readonly done: Promise<number>;
}

interface Slot {
  worker: Worker | null;
  startedAt: number;
  quickDeaths: number;
  restart: NodeJS.Timeout | null;
  lastCode: number | null;
}

/** Forks `config.workers` workers (this process's argv, env plus WORKER_INDEX_ENV) and watches them. */
export function runPrimary(config: Config, logger: Logger): Primary {
  const log = logger.child({ component: 'workers' });
  const slots: Slot[] = Array.from({ length: config.workers }, () => ({ worker: null, startedAt: 0, quickDeaths: 0, restart: null, lastCode: null }));
  let stopping = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const scrapes = new Scrapes(slots, log, config.asyncNatsUrl !== undefined);

  const settleIfDone = (): void => {
    if (stopping === 0 || slots.some((s) => s.worker !== null)) return;
    finish(slots.every((s) => s.lastCode === 0) ? 0 : 1);
  };
  const fork = (index: number): void => {
    const slot = slots[index] as Slot;
    slot.restart = null;
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    slot.worker = worker;
    slot.startedAt = Date.now();
    worker.on('message', (message: unknown) => {
      if (isMessage(message)) scrapes.onMessage(worker, message);
    });
    worker.on('exit', (code: number | null, signal: string | null) => {
      slot.worker = null;
      slot.lastCode = code ?? 1;
      scrapes.forget(worker);
      if (stopping > 0) {
        settleIfDone();
        return;
      }
      const ranMs = Date.now() - slot.startedAt;
      slot.quickDeaths = ranMs < HEALTHY_RUN_MS ? slot.quickDeaths + 1 : 0;
      const delayMs = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.max(0, slot.quickDeaths - 1));
      log.error('worker exited, forking it again', { worker: index, pid: worker.process.pid, code, signal, ranMs, delayMs });
      slot.restart = setTimeout(() => fork(index), delayMs);
    });
  };
  for (let index = 0; index < config.workers; index++) fork(index);
  log.info('workers started', { workers: config.workers, pid: process.pid });

  return {
    done,
    stop(): void {
      stopping += 1;
      for (const slot of slots) {
        if (slot.restart !== null) clearTimeout(slot.restart);
        slot.restart = null;
      }
      const message: Message = { type: stopping === 1 ? 'alert-scaler:stop' : 'alert-scaler:exit-now' };
      for (const slot of slots) if (slot.worker?.isConnected() === true) slot.worker.send(message);
      settleIfDone();
    },
  };
}

/** The primary's side of a scrape: asks every worker for its text and merges them. */
class Scrapes {
  private nextId = 0;
  private readonly pending = new Map<number, { readonly waiting: Set<Worker>; readonly texts: string[]; readonly done: () => void }>();

  constructor(
    private readonly slots: readonly Slot[],
    private readonly log: Logger,
    private readonly sharedAsyncQueue: boolean,
  ) {}

  onMessage(from: Worker, message: Message): void {
    if (message.type === 'alert-scaler:scrape') void this.answer(from, message.id);
    else if (message.type === 'alert-scaler:rendered') {
      const round = this.pending.get(message.id);
      if (round === undefined || !round.waiting.delete(from)) return;
      round.texts.push(message.text);
      if (round.waiting.size === 0) round.done();
    }
  }

  /** A worker gone: a round waiting for it goes on without it. */
  forget(worker: Worker): void {
    for (const round of this.pending.values()) if (round.waiting.delete(worker) && round.waiting.size === 0) round.done();
  }

  private async answer(asker: Worker, askerId: number): Promise<void> {
    const id = this.nextId++;
    const workers = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== null && w.isConnected());
    const texts: string[] = [];
    const waiting = new Set(workers);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.pending.set(id, { waiting, texts, done: resolve });
      timer = setTimeout(resolve, SCRAPE_TIMEOUT_MS);
      for (const worker of workers) worker.send({ type: 'alert-scaler:render', id } satisfies Message);
      if (waiting.size === 0) resolve();
    });
    clearTimeout(timer);
    this.pending.delete(id);
    if (waiting.size > 0) this.log.warn('workers left out of a scrape: no answer in time', { workers: [...waiting].map((w) => w.process.pid), timeoutMs: SCRAPE_TIMEOUT_MS });
    const text = texts.length === 0 ? null : mergeMetricTexts(texts, { sharedAsyncQueue: this.sharedAsyncQueue });
    if (asker.isConnected()) asker.send({ type: 'alert-scaler:scraped', id: askerId, text } satisfies Message);
  }
}

/** A worker's side: what the primary asks of it. */
export interface WorkerLink {
  /** All workers' metrics merged by the primary; null when it could not answer (none in time). */
  scrape(): Promise<string | null>;
  /** Stops answering the primary. */
  close(): void;
}

/**
 * Connects a worker to its primary: renders `registry` when asked, and runs `onStop` (a
 * graceful stop) or `onExitNow` when the primary passes a signal on.
 */
export function linkWorker(registry: Registry, hooks: { readonly onStop: () => void; readonly onExitNow: () => void }): WorkerLink {
  let nextId = 0;
  const waiting = new Map<number, (text: string | null) => void>();
  const onMessage = (message: unknown): void => {
    if (!isMessage(message)) return;
    if (message.type === 'alert-scaler:render') {
      // A render that fails sends nothing: the primary leaves this worker out once its wait ends.
      scrapeBody(registry).then(
        (chunks) => process.send?.({ type: 'alert-scaler:rendered', id: message.id, text: Buffer.concat(chunks).toString('utf8') } satisfies Message),
        () => undefined,
      );
    } else if (message.type === 'alert-scaler:scraped') {
      waiting.get(message.id)?.(message.text);
      waiting.delete(message.id);
    } else if (message.type === 'alert-scaler:stop') hooks.onStop();
    else if (message.type === 'alert-scaler:exit-now') hooks.onExitNow();
  };
  process.on('message', onMessage);
  return {
    scrape(): Promise<string | null> {
      const id = nextId++;
      return new Promise((resolve) => {
        // The primary answers within its own bound; this one covers a primary that is gone.
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(null);
        }, SCRAPE_TIMEOUT_MS * 2);
        waiting.set(id, (text) => {
          clearTimeout(timer);
          resolve(text);
        });
        process.send?.({ type: 'alert-scaler:scrape', id } satisfies Message);
      });
    },
    close(): void {
      process.off('message', onMessage);
    },
  };
}

/** `GET /metrics` (or HEAD), query string or not. */
const isScrape = (req: http.IncomingMessage): boolean =>
  (req.method === 'GET' || req.method === 'HEAD') && (req.url === '/metrics' || req.url?.startsWith('/metrics?') === true);

/**
 * The app with `/metrics` on both listeners answered by `scrape` (every worker's metrics
 * merged), so counters do not jump between workers from one scrape to the next; 503 when the
 * primary gave no answer. Every other request goes to the app as it is.
 */
export function withMergedMetrics(app: App, scrape: () => Promise<string | null>, contentType: string): App {
  const serve = (handler: App['functions']): App['functions'] => (req, res) => {
    if (!isScrape(req)) {
      handler(req, res);
      return;
    }
    req.resume();
    void scrape().then((text) => {
      if (text === null) {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: 'METRICS_UNAVAILABLE', message: 'the workers\' metrics did not come in time' }));
        return;
      }
      const body = Buffer.from(text, 'utf8');
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  };
  return { ...app, functions: serve(app.functions), admin: serve(app.admin) };
}
