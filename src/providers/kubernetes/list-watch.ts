import type { Logger } from 'winston';
import { statusOf } from './client.js';
import type { WatchEvent } from './objects.js';
import type { Listed, ListOptions } from './list-options.js';

/** What a cache keeps of one object: at least its key and version. */
export interface CachedFacts {
  readonly name: string;
  readonly namespace: string;
  readonly resourceVersion: string;
}

/** Called with the previous and new facts; `next` is null when the object was deleted. */
export type FactsListener<F> = (previous: F | null, next: F | null) => void;

/** How to list and watch one kind of object in a namespace, and what to keep of each. */
export interface ListWatchSource<T, F extends CachedFacts> {
  /** Plural resource name, for logs: `deployments`. */
  readonly resource: string;
  /**
   * Label selectors, one list+watch stream each (a selector cannot OR two labels); `''` picks
   * every object. Disjoint selectors keep one copy of each object.
   */
  readonly selectors: readonly string[];
  list(namespace: string, options: ListOptions): Promise<Listed<T>>;
  watch(namespace: string, labelSelector: string, resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<AbortController>;
  /** The lean record of an object; the object itself is dropped right after. */
  facts(object: T): F;
  /**
   * The record `next` to cache in place of `previous` (same object, another version): may
   * share `previous`'s unchanged parts, so readers that memoise by identity keep their
   * result. None: `next` as it is.
   */
  carry?(previous: F, next: F): F;
}

export interface InformerOptions {
  /** First delay after a failed list or watch; doubles up to `maxBackoffMs`. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /**
   * A watch open longer than this is abandoned and the cache re-listed: the apiserver ends
   * watches after timeoutSeconds (at most 300 s here), so a longer one sits on a dead connection.
   */
  readonly watchDeadlineMs: number;
  /** Objects per list page (`limit`); default LIST_PAGE_SIZE. A list never sits in memory whole. */
  readonly pageSize?: number;
}

/** Default objects per list page, as client-go's reflector pages (500). */
export const LIST_PAGE_SIZE = 500;
/** A list longer than this many pages is refused (a server that never ends its `continue` chain). */
const MAX_PAGES = 10_000;

/** How a watch ended: cleanly (resume from `resourceVersion`) or with 410 Expired (re-list). */
type WatchOutcome = { readonly kind: 'closed'; readonly resourceVersion: string } | { readonly kind: 'expired' };

/**
 * One list+watch stream: the objects of one namespace that one label selector picks, as
 * client-go's reflector keeps them: list page by page, watch from the list's
 * resourceVersion; a watch that ends cleanly (the apiserver's timeoutSeconds, or our own
 * deadline on a silent connection) is resumed from the last resourceVersion it delivered
 * (an event's or a BOOKMARK's), without a list; a watch that failed, or whose version is too
 * old (410 Expired), is followed by a re-list, diffed against the cache so no change is
 * missed. At 10,000 functions a re-list at every watch timeout (every 4-5 min per stream)
 * re-read and re-parsed every object for nothing.
 */
export class ListWatchStream<T, F extends CachedFacts> {
  /** By object name. */
  readonly cache = new Map<string, F>();
  private readonly controllers = new Set<AbortController>();
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private loop: Promise<void> | undefined;
  /** Ends the pending watchOnce promise, so stop() never waits on a hanging connection. */
  private readonly finishers = new Set<() => void>();
  private stopped = false;
  private readonly logger: Logger;

  constructor(
    private readonly source: ListWatchSource<T, F>,
    readonly namespace: string,
    readonly selector: string,
    private readonly onChange: FactsListener<F>,
    logger: Logger,
    private readonly options: InformerOptions,
  ) {
    this.logger = logger.child({ namespace, labelSelector: selector });
  }

  /** Lists (rejects with the translated error if that fails), then watches in the background. */
  async start(): Promise<void> {
    this.stopped = false;
    const version = await this.relist();
    this.loop = this.run(version);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.controllers) c.abort();
    for (const f of this.finishers) f();
    for (const s of this.sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    await this.loop;
  }

  private async run(listedVersion: string): Promise<void> {
    let resourceVersion = listedVersion;
    let backoffMs = this.options.minBackoffMs;
    while (!this.stopped) {
      const startedAt = Date.now();
      try {
        const outcome = await this.watchOnce(resourceVersion);
        if (this.stopped) return;
        this.logger.debug('watch ended', { outcome: outcome.kind });
        // A server that closes every watch at once must not turn this into a busy loop.
        if (Date.now() - startedAt < 1000) await this.sleep(this.options.minBackoffMs);
        if (outcome.kind === 'closed') {
          // Ended cleanly: every event up to its last version was seen; carry on from there.
          resourceVersion = outcome.resourceVersion;
          continue;
        }
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn('watch failed', { error: String(err), status: statusOf(err) });
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs);
      }
      // Failed or expired: re-list so nothing that happened meanwhile is missed.
      while (!this.stopped) {
        try {
          resourceVersion = await this.relist();
          backoffMs = this.options.minBackoffMs;
          break;
        } catch (err) {
          this.logger.warn('list failed', { error: String(err), status: statusOf(err) });
          await this.sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs);
        }
      }
    }
  }

  /** Replaces the cache with a fresh list, one page at a time; returns the list's resourceVersion. */
  private async relist(): Promise<string> {
    const seen = new Set<string>();
    const limit = this.options.pageSize ?? LIST_PAGE_SIZE;
    let resourceVersion = '';
    let next: string | undefined;
    for (let pages = 0; pages === 0 || next !== undefined; pages += 1) {
      if (pages >= MAX_PAGES) throw new Error(`list of ${this.source.resource} did not end after ${MAX_PAGES} pages`);
      const page = await this.source.list(this.namespace, { labelSelector: this.selector, limit, ...(next === undefined ? {} : { continue: next }) });
      // Every page of one list carries the first page's resourceVersion: the watch starts there.
      if (resourceVersion === '') resourceVersion = page.resourceVersion;
      for (const item of page.items) {
        const facts = this.source.facts(item);
        seen.add(facts.name);
        this.upsert(facts);
      }
      next = page.continue === undefined || page.continue === '' ? undefined : page.continue;
    }
    for (const [name, facts] of this.cache) {
      if (!seen.has(name)) {
        this.cache.delete(name);
        this.onChange(facts, null);
      }
    }
    return resourceVersion;
  }

  private upsert(made: F): void {
    const previous = this.cache.get(made.name) ?? null;
    if (previous !== null && previous.resourceVersion === made.resourceVersion) return;
    const facts = previous === null || this.source.carry === undefined ? made : this.source.carry(previous, made);
    this.cache.set(facts.name, facts);
    this.onChange(previous, facts);
  }

  private handle(event: WatchEvent<T>): void {
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.upsert(this.source.facts(event.object));
    else if (event.type === 'DELETED') {
      const { name } = this.source.facts(event.object);
      const previous = this.cache.get(name);
      if (previous === undefined) return;
      this.cache.delete(name);
      this.onChange(previous, null);
    }
  }

  /**
   * One watch stream; resolves when it ends cleanly (with the last resourceVersion it
   * delivered) or with 410, rejects on other failures.
   */
  private watchOnce(resourceVersion: string): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve, reject) => {
      let settled = false;
      let controller: AbortController | undefined;
      let lastVersion = resourceVersion;
      const closed = (): WatchOutcome => ({ kind: 'closed', resourceVersion: lastVersion });
      const finish = (outcome: WatchOutcome | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        this.finishers.delete(stopNow);
        if (controller !== undefined) {
          this.controllers.delete(controller);
          controller.abort();
        }
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onEvent = (event: WatchEvent<T>): void => {
        if (settled) return;
        if (event.type === 'ERROR') {
          // A watch resumed from a compacted resourceVersion ends with a 410 Status event.
          if (event.object.code === 410) finish({ kind: 'expired' });
          else finish(Object.assign(new Error(event.object.message ?? 'watch error event'), { statusCode: event.object.code }));
          return;
        }
        const version = (event.object as { readonly metadata?: { readonly resourceVersion?: string } }).metadata?.resourceVersion;
        try {
          if (event.type !== 'BOOKMARK') this.handle(event);
        } catch (err) {
          this.logger.error('watch listener failed', { error: String(err) });
        }
        if (version !== undefined && version !== '') lastVersion = version;
      };
      const stopNow = (): void => finish(closed());
      this.finishers.add(stopNow);
      const deadline = setTimeout(() => {
        this.logger.warn('watch deadline passed', {});
        finish(closed());
      }, this.options.watchDeadlineMs);
      const onDone = (err: unknown): void => {
        if (err === null || err === undefined) finish(closed());
        else if (statusOf(err) === 410) finish({ kind: 'expired' });
        else finish(err instanceof Error ? err : new Error(String(err)));
      };
      this.source.watch(this.namespace, this.selector, resourceVersion, onEvent, onDone).then(
        (c) => {
          controller = c;
          if (settled || this.stopped) {
            c.abort();
            finish(closed());
          } else this.controllers.add(c);
        },
        (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
      );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.sleeps.add(entry);
    });
  }
}
