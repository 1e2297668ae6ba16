import { functionLabel, type FunctionRef } from '../core/ref.js';
import type { Logger } from '../log/logger.js';
import { decideWake } from '../policy/wake.js';
import type { Engine } from './index.js';

/**
 * The wake: a request waits for a function that wants 0 replicas. One change cycle (source
 * `waker`; the dispatcher asks once per burst); a failure answers the waiting requests with
 * its cause. Returns the cycle's promise (never rejects).
 */
export function wake(engine: Engine, ref: FunctionRef, log: Logger, defaultNamespace: string): Promise<void> {
  const { changer, dispatcher } = engine;
  const fn = functionLabel(ref, defaultNamespace);
  log.info('wake requested', { function: fn, held: dispatcher.queued(ref).no_replica });
  return changer.change(ref, 'waker', decideWake).then(
    () => undefined,
    (err: unknown) => {
      const cause = err instanceof Error ? err : new Error(String(err));
      log.error('wake failed', { function: fn, error: cause.message });
      dispatcher.wakeFailed(ref, cause);
    },
  );
}
