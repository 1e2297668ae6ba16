/*
 * A staged write of one function's Deployment (DeploymentWrites): the alert state it carries,
 * the count changes merged into it, each with its fence, and the pure steps of sending it.
 */
import { hash } from 'node:crypto';
import { AppError } from '../../errors.js';
import { refKey, type FunctionRef } from '../types.js';
import { TextMemo } from './memo.js';
import { STATE_ANNOTATION } from './opt-in.js';

/** Digests of the last annotation texts (each state text is digested on its load, its save and its write). */
const digests = new TextMemo<string>(1024);

/** Short digest of an annotation's text; null for none. The one-shot crypto.hash: the same SHA-256 as a Hash object, without building one per text. */
export function digestOf(text: string | undefined): string | null {
  return text === undefined ? null : digests.get(text, (t) => ({ value: hash('sha256', t, 'hex').slice(0, 16), keep: true }));
}

export interface Waiter {
  readonly resolve: (r: { from: number; to: number }) => void;
  readonly reject: (err: unknown) => void;
}

/** One count change merged into a write: its target, its fence (ScaleWrite.fence), who waits for it. */
export interface CountChange {
  readonly target: (current: number) => number;
  readonly fence: (() => void) | undefined;
  readonly waiter: Waiter;
}

/** A staged change of one function: its alert state text (and the stored text it replaces), its count changes. */
export interface Change {
  state?: { readonly text: string; readonly base: string | null };
  /** In the order made: each applies to the count the one before leaves. */
  readonly counts: CountChange[];
  /** Who waits for the whole change: the state's stagers, a flush. */
  readonly waiters: Waiter[];
  /** Someone waits for its state (DeploymentWrites.persistState): sent as soon as the write in flight ends, no linger. */
  urgent?: boolean;
}

/** Everyone waiting for the change: its count changes' and the whole change's. */
export function everyWaiter(change: Change): Waiter[] {
  return [...change.counts.map((c) => c.waiter), ...change.waiters];
}

/** Takes out of `change` each count change whose fence refuses now; its waiter gets the fence's error. */
export function refuseFenced(change: Change): void {
  for (let i = change.counts.length - 1; i >= 0; i -= 1) {
    const count = change.counts[i] as CountChange;
    try {
      count.fence?.();
    } catch (err) {
      change.counts.splice(i, 1);
      count.waiter.reject(err);
    }
  }
}

/**
 * The annotations a change writes over the `stored` alert state: none when it has no state or
 * its state is stored already. PROVIDER_CONFLICT when the stored state is not the one the
 * change's replaces (another writer stored one since it was decided), even when it is the
 * very same text, if the change carries a count: two gateways that decide the same
 * notification in the same millisecond decide the same state, and the one whose write lost
 * must decide again (its step is taken; it must not report the other's write as its own).
 * A state alone that another writer stored word for word is as good as written.
 */
export function stateToWrite(ref: FunctionRef, change: Change, stored: string | undefined): Record<string, string> | undefined {
  if (change.state === undefined) return undefined;
  const storedDigest = digestOf(stored);
  const same = storedDigest === digestOf(change.state.text);
  if (storedDigest !== change.state.base && (!same || change.counts.length > 0)) {
    throw new AppError('PROVIDER_CONFLICT', `alert state of ${refKey(ref)} changed concurrently`);
  }
  return same ? undefined : { [STATE_ANNOTATION]: change.state.text };
}
