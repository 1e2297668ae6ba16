import type { DeploymentLike } from './client.js';
import { refKey, type FunctionRef } from '../types.js';

/** Default of DeploymentSnapshots' maxAgeMs: a change cycle takes a few API round trips. */
export const SNAPSHOT_MAX_AGE_MS = 2_000;

/**
 * The last Deployment this process read live or got back from a write, per function, so one
 * change cycle reads it once: the provider's live read at the start of the cycle serves the
 * state store's load and save and the scale write after it, and each write's answer serves
 * the next write. Only writes use a snapshot, always with its resourceVersion as
 * precondition, so a stale one costs a 409 and a live re-read, never a wrong write; the
 * opt-in label is checked on the snapshot, which is the Deployment at that very version.
 *
 * A snapshot is dropped when the watch shows the Deployment at another resourceVersion
 * (someone else wrote it: the controller's status, kubectl), when a write meets 409, and
 * after `maxAgeMs`.
 */
export class DeploymentSnapshots {
  private readonly entries = new Map<string, { readonly deployment: DeploymentLike; readonly at: number }>();
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

  /** The watch saw `ref` at `resourceVersion` (null: deleted): a snapshot of another version is dropped. */
  observed(ref: FunctionRef, resourceVersion: string | null): void {
    const key = refKey(ref);
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.deployment.metadata?.resourceVersion !== resourceVersion) this.entries.delete(key);
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
