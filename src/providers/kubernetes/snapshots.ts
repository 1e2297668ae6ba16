import type { DeploymentLike } from './objects.js';
import { refKey, type FunctionRef } from '../types.js';

/** Default of DeploymentSnapshots' maxAgeMs: a change cycle takes a few API round trips. */
export const SNAPSHOT_MAX_AGE_MS = 2_000;

/**
 * The Deployment this process got back from its own write (or a rare live read), per
 * function, until the watch cache catches up: the watch delivers a write a few ms after its
 * answer, and the next change cycle must not decide from (and write at) the version before
 * it. Writes always carry the snapshot's resourceVersion as precondition, so a stale one
 * costs a 409, never a wrong write; the opt-in label is checked on the snapshot, which is
 * the Deployment at that very version.
 *
 * A snapshot is dropped when the watch shows the Deployment at the snapshot's own
 * resourceVersion (the cache has it now) or deleted, when a write meets 409, and after
 * `maxAgeMs` (a watch that skipped the version: a re-list). A watch event of another
 * version does not drop it: that is an older event still on its way. Waiters
 * (`changed`) learn when the watch shows a version other than the one they wrote at.
 */
export class DeploymentSnapshots {
  private readonly entries = new Map<string, { readonly deployment: DeploymentLike; readonly at: number }>();
  /** Per function: the version each waiter wrote at and its resolve. */
  private readonly waiters = new Map<string, Set<{ readonly version: string; readonly resolve: (changed: boolean) => void }>>();
  private cache: (ref: FunctionRef) => DeploymentLike | undefined = () => undefined;

  /**
   * @param maxAgeMs how long a snapshot may serve a write, in ms; 0 disables reuse.
   * @param now the clock, epoch ms.
   */
  constructor(
    private readonly maxAgeMs = SNAPSHOT_MAX_AGE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Lets `cached` answer from the provider's watch cache (the provider attaches it: its
   * lean Deployment record at the watched resourceVersion).
   */
  attachCache(lookup: (ref: FunctionRef) => DeploymentLike | undefined): void {
    this.cache = lookup;
  }

  /**
   * The Deployment as the watch last showed it (labels, the annotations read, desired count,
   * resourceVersion), without an API call; undefined when it is not cached. A write from it
   * carries that resourceVersion as precondition, so a stale copy is a 409, never a wrong write.
   */
  cached(ref: FunctionRef): DeploymentLike | undefined {
    return this.cache(ref);
  }

  /** Keeps `deployment` (a live read or a write's answer) as the latest of `ref`. */
  record(ref: FunctionRef, deployment: DeploymentLike): void {
    if (this.maxAgeMs <= 0) return;
    this.entries.set(refKey(ref), { deployment, at: this.now() });
    // Snapshots of functions written once and never read again would stay: sweep the old ones now and then.
    if (this.entries.size % 256 === 0) this.sweep();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (now - entry.at > this.maxAgeMs) this.entries.delete(key);
  }

  /**
   * The latest snapshot of `ref` still young enough to write from (this process's own read or
   * write the watch has not moved past), else the watch cache's copy (`cached`), else undefined.
   */
  get(ref: FunctionRef): DeploymentLike | undefined {
    return this.recorded(ref) ?? this.cache(ref);
  }

  /** Only a snapshot this process recorded (a live read or a write's answer) and still young; never the cache. */
  recorded(ref: FunctionRef): DeploymentLike | undefined {
    const key = refKey(ref);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() - entry.at > this.maxAgeMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.deployment;
  }

  /**
   * The watch saw `ref` at `resourceVersion` (null: deleted): a snapshot of that version (or
   * of a deleted one) is dropped, the cache now has it; waiters on another version wake.
   */
  observed(ref: FunctionRef, resourceVersion: string | null): void {
    const key = refKey(ref);
    const entry = this.entries.get(key);
    if (entry !== undefined && (resourceVersion === null || entry.deployment.metadata?.resourceVersion === resourceVersion)) this.entries.delete(key);
    const waiting = this.waiters.get(key);
    if (waiting === undefined) return;
    for (const w of [...waiting]) if (w.version !== resourceVersion) w.resolve(true);
  }

  /**
   * Resolves true once the watch shows `ref` at a version other than `version` (a 409 is
   * resolved from the watch, not by a read), false after `timeoutMs`. `current` is the
   * cache's version now: when it already differs, resolves true at once.
   */
  changed(ref: FunctionRef, version: string, current: string | undefined, timeoutMs: number): Promise<boolean> {
    if (current !== undefined && current !== version) return Promise.resolve(true);
    const key = refKey(ref);
    return new Promise<boolean>((resolve) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const waiter = {
        version,
        resolve: (changed: boolean) => {
          clearTimeout(timer);
          set.delete(waiter);
          if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
          resolve(changed);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      timer.unref();
      set.add(waiter);
    });
  }

  /** Drops the snapshot of `ref` (a write met 409: it is stale). */
  forget(ref: FunctionRef): void {
    this.entries.delete(refKey(ref));
  }

  /** Snapshots held; for tests. */
  get size(): number {
    return this.entries.size;
  }
}
