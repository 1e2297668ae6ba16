import type { Logger } from 'winston';
import { AppError, isAppError } from '../../errors.js';
import { refKey, type FunctionRef } from '../types.js';
import type { KubeApi } from './client.js';
import type { DeploymentLike } from './objects.js';
import { factsOf, type DeploymentFacts } from './informer.js';
import { ENABLED_LABEL, FAAS_FUNCTION_LABEL, isOptedIn } from './opt-in.js';
import type { DeploymentSnapshots } from './snapshots.js';
import { digestOf, everyWaiter, refuseFenced, stateToWrite, type Change } from './write-change.js';

export { STATE_ANNOTATION } from './opt-in.js';
export { digestOf } from './write-change.js';

/** The facts of each snapshot (a recorded Deployment is never changed), made once. */
const snapshotFacts = new WeakMap<DeploymentLike, DeploymentFacts>();

/** Where the Deployments are read from: the provider's watch cache. */
export interface DeploymentView {
  /** The cached facts of `ref`; undefined when it is not cached. */
  cached(ref: FunctionRef): DeploymentFacts | undefined;
  /** True once the cache has listed: a miss then means the Deployment does not exist (no live read). */
  synced(): boolean;
}

export interface DeploymentWritesOptions {
  readonly api: KubeApi;
  readonly namespaces: readonly string[];
  readonly snapshots: DeploymentSnapshots;
  readonly view: DeploymentView;
  readonly logger: Logger;
  /** Writes of one change (a 409 each) before PROVIDER_CONFLICT; default 5. */
  readonly attempts?: number;
  /** Longest wait for the watch to show the version that beat a write (409), ms; then one live read. Default 2000. */
  readonly conflictWaitMs?: number;
  /** How long a state change alone waits for the function's count write to ride along with, ms; default 1000. */
  readonly lingerMs?: number;
}

interface Queue {
  readonly ref: FunctionRef;
  /** The change not sent yet: later changes merge into it. */
  next: Change | undefined;
  /** The change being sent (its state still reads as the function's). */
  sending: Change | undefined;
  linger: NodeJS.Timeout | undefined;
}

/**
 * The one writer of a function's Deployment: a per-function queue that merges what is not
 * sent yet (the alert state annotation and the replica count go in one JSON merge patch),
 * one write in flight per function. Every write starts from the newest known version (this
 * process's last write's answer until the watch has it, else the watch cache), never from a
 * live read, and carries its resourceVersion as precondition. A 409 is resolved by waiting
 * for the watch to show the newer version (bounded by conflictWaitMs; one live read only if
 * it does not come), then deciding the write again: the count from its target function; the
 * state only if the stored one is still the one it replaces (else PROVIDER_CONFLICT: another
 * writer changed it, and the change cycle decides again).
 */
export class DeploymentWrites {
  private readonly queues = new Map<string, Queue>();
  private readonly attempts: number;
  private readonly conflictWaitMs: number;
  private readonly lingerMs: number;

  constructor(private readonly options: DeploymentWritesOptions) {
    this.attempts = Math.max(1, options.attempts ?? 5);
    this.conflictWaitMs = Math.max(0, options.conflictWaitMs ?? 500);
    this.lingerMs = Math.max(0, options.lingerMs ?? 1000);
  }

  /** FUNCTION_UNKNOWN unless the function's namespace is watched. */
  watched(ref: FunctionRef): void {
    if (!this.options.namespaces.includes(ref.namespace)) {
      throw new AppError('FUNCTION_UNKNOWN', `${refKey(ref)} is not in a watched namespace (${this.options.namespaces.join(', ')})`);
    }
  }

  /**
   * The newest known Deployment of `ref`, opted in: this process's last write's answer, else
   * the watch cache; a live read only for one the cache does not hold (before it has listed,
   * or not a managed function: the watches are label-selected), which names the error:
   * FUNCTION_UNKNOWN when it does not exist, FUNCTION_NOT_ENABLED when it did not opt in.
   */
  async read(ref: FunctionRef): Promise<DeploymentFacts> {
    this.watched(ref);
    const known = this.newest(ref) ?? (await this.live(ref));
    if (known === undefined) throw new AppError('FUNCTION_UNKNOWN', `deployments ${refKey(ref)} not found`);
    return enabled(ref, known);
  }

  /** The alert state text staged or being written for `ref` (it reads as stored); undefined when none is. */
  pendingState(ref: FunctionRef): string | undefined {
    const queue = this.queues.get(refKey(ref));
    return queue?.next?.state?.text ?? queue?.sending?.state?.text;
  }

  /** The alert state text as this process knows it (staged, being written, or cached from the watch); undefined when none. */
  storedState(ref: FunctionRef): string | undefined {
    return this.pendingState(ref) ?? this.newest(ref)?.alertState;
  }

  /**
   * Stages `text` as the function's alert state: it goes with the function's next count
   * write, or alone after lingerMs (`now`: at once). The returned promise settles when it is
   * written; callers that staged it need not wait (a failure is logged).
   */
  stageState(ref: FunctionRef, text: string, now = false): Promise<void> {
    const queue = this.queue(ref);
    const change = (queue.next ??= { counts: [], waiters: [] });
    // What it replaces: the state being written when one is, else the stored one.
    const sending = queue.sending?.state?.text;
    change.state = { text, base: change.state?.base ?? digestOf(sending ?? this.newest(ref)?.alertState) };
    const written = new Promise<void>((resolve, reject) => change.waiters.push({ resolve: () => resolve(), reject }));
    // Nobody need wait for it: a failure is logged in flush, not left unhandled.
    written.catch(() => undefined);
    if (now) this.flush(ref);
    else if (queue.linger === undefined && queue.sending === undefined) {
      queue.linger = setTimeout(() => this.flush(ref), this.lingerMs);
      queue.linger.unref();
    }
    return written;
  }

  /**
   * Writes the count `target(current)` (with any staged state) now; resolves with the count
   * before and after. `fence` runs right before each attempt is sent: when it throws, this
   * count is not written (its promise rejects with that error) and the rest of the change is.
   */
  scale(ref: FunctionRef, target: (current: number) => number, fence?: () => void): Promise<{ from: number; to: number }> {
    const queue = this.queue(ref);
    const change = (queue.next ??= { counts: [], waiters: [] });
    const done = new Promise<{ from: number; to: number }>((resolve, reject) => change.counts.push({ target, fence, waiter: { resolve, reject } }));
    this.flush(ref);
    return done;
  }

  /**
   * Resolves once the state staged or being written for `ref` is written, sending a staged one
   * now (after the write in flight); rejects with its write's error. At once when none is.
   */
  persistState(ref: FunctionRef): Promise<void> {
    const queue = this.queues.get(refKey(ref));
    const change = queue?.next?.state !== undefined ? queue.next : queue?.sending?.state !== undefined ? queue.sending : undefined;
    if (queue === undefined || change === undefined) return Promise.resolve();
    const written = new Promise<void>((resolve, reject) => change.waiters.push({ resolve: () => resolve(), reject }));
    if (change === queue.next) {
      change.urgent = true;
      this.flush(ref);
    }
    return written;
  }

  /** Sends every staged change now and resolves when all are written or failed (a graceful stop). */
  async flushAll(): Promise<void> {
    const done: Array<Promise<unknown>> = [];
    for (const queue of [...this.queues.values()]) {
      const change = queue.next ?? queue.sending;
      if (change === undefined) continue;
      done.push(new Promise((resolve) => change.waiters.push({ resolve, reject: resolve })));
      if (queue.next !== undefined) this.flush(queue.ref);
    }
    await Promise.all(done);
  }

  private queue(ref: FunctionRef): Queue {
    const key = refKey(ref);
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = { ref, next: undefined, sending: undefined, linger: undefined };
      this.queues.set(key, queue);
    }
    return queue;
  }

  /** Sends the staged change unless one is in flight (it follows that one). */
  private flush(ref: FunctionRef): void {
    const key = refKey(ref);
    const queue = this.queues.get(key);
    if (queue === undefined || queue.sending !== undefined || queue.next === undefined) return;
    if (queue.linger !== undefined) clearTimeout(queue.linger);
    queue.linger = undefined;
    const change = queue.next;
    queue.next = undefined;
    queue.sending = change;
    this.send(ref, change).then(
      (result) => {
        for (const w of everyWaiter(change)) w.resolve(result);
      },
      (err: unknown) => {
        if (change.counts.length === 0 && change.state !== undefined) {
          this.options.logger.warn('alert state not written', { function: key, error: err instanceof Error ? err.message : String(err) });
        }
        for (const w of everyWaiter(change)) w.reject(err);
      },
    ).finally(() => {
      queue.sending = undefined;
      if (queue.next === undefined) this.queues.delete(key);
      else if (queue.next.counts.length > 0 || queue.next.urgent === true) this.flush(ref);
      else {
        queue.linger = setTimeout(() => this.flush(ref), this.lingerMs);
        queue.linger.unref();
      }
    });
  }

  /** One change: its write, and again after each 409 once the watch has the newer version. */
  private async send(ref: FunctionRef, change: Change): Promise<{ from: number; to: number }> {
    // All waits for the watch of one write share conflictWaitMs: a write that keeps meeting 409s (a dropped watch) reads live instead.
    let waitLeftMs = this.conflictWaitMs;
    for (let attempt = 1; ; attempt += 1) {
      const deployment = await this.read(ref);
      // From here to the write nothing waits: a fence that passes holds when the write goes.
      refuseFenced(change);
      const from = deployment.desired;
      const to = change.counts.reduce((count, c) => c.target(count), from);
      const metadata: Record<string, unknown> = { resourceVersion: deployment.resourceVersion };
      const annotations = stateToWrite(ref, change, deployment.alertState);
      if (annotations !== undefined) metadata['annotations'] = annotations;
      if (to === from && metadata['annotations'] === undefined) return { from, to };
      const body = to === from ? { metadata } : { metadata, spec: { replicas: to } };
      try {
        const written = await this.options.api.patchDeployment(ref.namespace, ref.name, body, to === from ? 'state' : 'scale');
        this.options.snapshots.record(ref, written);
        this.options.logger.debug('deployment written', { function: refKey(ref), from, to, state: metadata['annotations'] !== undefined, attempt });
        return { from, to };
      } catch (err) {
        if (!isAppError(err, 'PROVIDER_CONFLICT')) throw err;
        this.options.snapshots.forget(ref);
        if (attempt >= this.attempts) throw new AppError('PROVIDER_CONFLICT', `${refKey(ref)} kept changing; gave up after ${attempt} writes`, { cause: err });
        this.options.logger.debug('deployment conflict', { function: refKey(ref), attempt });
        const { view, snapshots } = this.options;
        const waitFrom = Date.now();
        const seen = view.synced() && waitLeftMs > 0 && (await snapshots.changed(ref, deployment.resourceVersion, view.cached(ref)?.resourceVersion, waitLeftMs));
        waitLeftMs -= Date.now() - waitFrom;
        // No watch (standalone), or it did not bring the newer version in time: read it once.
        if (!seen) await this.live(ref);
      }
    }
  }

  /**
   * The snapshot of this process's own write (or live read; its facts made once) while the
   * cache lacks it, else the cached facts as they are (not through a Deployment shape and back).
   */
  private newest(ref: FunctionRef): DeploymentFacts | undefined {
    const own = this.options.snapshots.recorded(ref);
    if (own === undefined) return this.options.view.cached(ref);
    const facts = snapshotFacts.get(own) ?? factsOf(own);
    snapshotFacts.set(own, facts);
    return facts;
  }

  /** One live read (before the cache has listed, or a watch that did not deliver), kept as the snapshot. */
  private async live(ref: FunctionRef): Promise<DeploymentFacts | undefined> {
    let deployment: DeploymentLike;
    try {
      deployment = await this.options.api.getDeployment(ref.namespace, ref.name);
    } catch (err) {
      this.options.snapshots.forget(ref);
      if (isAppError(err, 'FUNCTION_UNKNOWN')) return undefined;
      throw err;
    }
    this.options.snapshots.record(ref, deployment);
    return factsOf(deployment);
  }
}

/** `facts` when its Deployment opted in, else FUNCTION_NOT_ENABLED. */
function enabled(ref: FunctionRef, facts: DeploymentFacts): DeploymentFacts {
  if (!isOptedIn(facts.labels)) {
    throw new AppError('FUNCTION_NOT_ENABLED', `${refKey(ref)} has neither ${FAAS_FUNCTION_LABEL} nor ${ENABLED_LABEL}=true`);
  }
  return facts;
}
