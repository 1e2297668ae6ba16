import type { Logger } from 'winston';
import { statusOf, type DeploymentLike, type KubeApi, type Listed, type WatchEvent } from './client.js';
import { STATE_ANNOTATION } from './opt-in.js';

/** What a cache keeps of one object: at least its key and version. */
export interface CachedFacts {
  readonly name: string;
  readonly namespace: string;
  readonly resourceVersion: string;
}

/** What alert-scaler knows about one Deployment, from the list+watch cache. */
export interface DeploymentFacts extends CachedFacts {
  readonly uid: string;
  readonly desired: number;
  /** status.availableReplicas, else status.readyReplicas, else 0. */
  readonly ready: number;
  readonly labels: Readonly<Record<string, string>>;
  /** The annotations but the alert state (a policy input, parsed when it changes). */
  readonly annotations: Readonly<Record<string, string>>;
  /** The alert state annotation's text (STATE_ANNOTATION); undefined when none. */
  readonly alertState?: string | undefined;
  /** spec.selector.matchLabels: which pods are this Deployment's. */
  readonly selector: Readonly<Record<string, string>>;
}

/** Reduces a Deployment (typed or raw JSON from a watch) to its facts. */
export function factsOf(d: DeploymentLike): DeploymentFacts {
  // The alert state changes with every step: kept apart, so the annotations (policy inputs) stay the same object's equal.
  const { [STATE_ANNOTATION]: alertState, ...annotations } = d.metadata?.annotations ?? {};
  return {
    name: d.metadata?.name ?? '',
    namespace: d.metadata?.namespace ?? '',
    uid: d.metadata?.uid ?? '',
    resourceVersion: d.metadata?.resourceVersion ?? '',
    // The apiserver defaults spec.replicas to 1.
    desired: d.spec?.replicas ?? 1,
    ready: d.status?.availableReplicas ?? d.status?.readyReplicas ?? 0,
    labels: { ...(d.metadata?.labels ?? {}) },
    annotations,
    alertState,
    selector: { ...(d.spec?.selector?.matchLabels ?? {}) },
  };
}

/** Called with the previous and new facts; `next` is null when the object was deleted. */
export type FactsListener<F> = (previous: F | null, next: F | null) => void;

/** How to list and watch one kind of object in a namespace, and what to keep of each. */
export interface ListWatchSource<T, F extends CachedFacts> {
  /** Plural resource name, for logs: `deployments`. */
  readonly resource: string;
  list(namespace: string): Promise<Listed<T>>;
  watch(namespace: string, resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<AbortController>;
  facts(object: T): F;
}

/** The Deployments of a namespace, reduced to DeploymentFacts. */
export function deploymentSource(api: KubeApi): ListWatchSource<DeploymentLike, DeploymentFacts> {
  return {
    resource: 'deployments',
    list: (ns) => api.listDeployments(ns),
    watch: (ns, rv, onEvent, onDone) => api.watchDeployments(ns, rv, onEvent, onDone),
    facts: factsOf,
  };
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
}

type WatchOutcome = 'closed' | 'expired';

/**
 * A list+watch cache of one kind of object in some namespaces, as client-go's informer: list,
 * watch from the list's resourceVersion, and re-list whenever the watch ends (dropped,
 * timed out, or 410 Expired), diffing against the cache so no change is missed.
 */
export class Informer<T, F extends CachedFacts> {
  private readonly cache = new Map<string, F>();
  private readonly controllers = new Set<AbortController>();
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly loops: Array<Promise<void>> = [];
  /** Ends the pending watchOnce promises, so stop() never waits on a hanging connection. */
  private readonly finishers = new Set<() => void>();
  private stopped = false;

  private readonly logger: Logger;

  constructor(
    private readonly source: ListWatchSource<T, F>,
    private readonly namespaces: readonly string[],
    private readonly onChange: FactsListener<F>,
    logger: Logger,
    private readonly options: InformerOptions,
  ) {
    this.logger = logger.child({ resource: source.resource });
  }

  /** Lists every namespace (rejects with the translated error if that fails), then watches in the background. */
  async start(): Promise<void> {
    this.stopped = false;
    const versions = await Promise.all(this.namespaces.map((ns) => this.relist(ns)));
    this.namespaces.forEach((ns, i) => this.loops.push(this.run(ns, versions[i] ?? '')));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.controllers) c.abort();
    for (const f of this.finishers) f();
    for (const s of this.sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    await Promise.all(this.loops);
  }

  get(namespace: string, name: string): F | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  all(): F[] {
    return [...this.cache.values()];
  }

  private async run(namespace: string, listedVersion: string): Promise<void> {
    let resourceVersion = listedVersion;
    let backoffMs = this.options.minBackoffMs;
    while (!this.stopped) {
      const startedAt = Date.now();
      try {
        const outcome = await this.watchOnce(namespace, resourceVersion);
        if (this.stopped) return;
        this.logger.debug('watch ended', { namespace, outcome });
        // A server that closes every watch at once must not turn this into a busy loop.
        if (Date.now() - startedAt < 1000) await this.sleep(this.options.minBackoffMs);
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn('watch failed', { namespace, error: String(err), status: statusOf(err) });
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs);
      }
      // Dropped, timed out or expired: re-list so nothing that happened meanwhile is missed.
      while (!this.stopped) {
        try {
          resourceVersion = await this.relist(namespace);
          backoffMs = this.options.minBackoffMs;
          break;
        } catch (err) {
          this.logger.warn('list failed', { namespace, error: String(err), status: statusOf(err) });
          await this.sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs);
        }
      }
    }
  }

  /** Replaces the cache of one namespace with a fresh list; returns the list's resourceVersion. */
  private async relist(namespace: string): Promise<string> {
    const { items, resourceVersion } = await this.source.list(namespace);
    const seen = new Set<string>();
    for (const item of items) {
      const facts = this.source.facts(item);
      seen.add(`${facts.namespace}/${facts.name}`);
      this.upsert(facts);
    }
    for (const [key, facts] of this.cache) {
      if (facts.namespace === namespace && !seen.has(key)) {
        this.cache.delete(key);
        this.onChange(facts, null);
      }
    }
    return resourceVersion;
  }

  private upsert(facts: F): void {
    const key = `${facts.namespace}/${facts.name}`;
    const previous = this.cache.get(key) ?? null;
    if (previous !== null && previous.resourceVersion === facts.resourceVersion) return;
    this.cache.set(key, facts);
    this.onChange(previous, facts);
  }

  private handle(event: WatchEvent<T>): void {
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.upsert(this.source.facts(event.object));
    else if (event.type === 'DELETED') {
      const facts = this.source.facts(event.object);
      const key = `${facts.namespace}/${facts.name}`;
      const previous = this.cache.get(key);
      if (previous === undefined) return;
      this.cache.delete(key);
      this.onChange(previous, null);
    }
  }

  /** One watch stream; resolves when it ends cleanly or with 410, rejects on other failures. */
  private watchOnce(namespace: string, resourceVersion: string): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve, reject) => {
      let settled = false;
      let controller: AbortController | undefined;
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
          if (event.object.code === 410) finish('expired');
          else finish(Object.assign(new Error(event.object.message ?? 'watch error event'), { statusCode: event.object.code }));
          return;
        }
        try {
          this.handle(event);
        } catch (err) {
          this.logger.error('watch listener failed', { namespace, error: String(err) });
        }
      };
      const stopNow = (): void => finish('closed');
      this.finishers.add(stopNow);
      const deadline = setTimeout(() => {
        this.logger.warn('watch deadline passed', { namespace });
        finish('closed');
      }, this.options.watchDeadlineMs);
      const onDone = (err: unknown): void => {
        if (err === null || err === undefined) finish('closed');
        else if (statusOf(err) === 410) finish('expired');
        else finish(err instanceof Error ? err : new Error(String(err)));
      };
      this.source.watch(namespace, resourceVersion, onEvent, onDone).then(
        (c) => {
          controller = c;
          if (settled || this.stopped) {
            c.abort();
            finish('closed');
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
