import type { VirtualClock } from '../core/clock.js';
import type { FunctionRef } from '../core/ref.js';
import type { Changer } from '../engine/changer.js';
import { decideManual } from '../policy/manual.js';

/** One call of the manual scale API (`POST /system/scale-function`) at a fixed time of the run. */
export interface ScaleCall {
  /** Virtual time of the call, ms from the run's start. */
  readonly atMs: number;
  /** The function's name in the stack. */
  readonly function: string;
  readonly replicas: number;
}

/**
 * Makes each scale call at its time through the change cycle with the API's own decision
 * (`decideManual`, source `api`), as the gateway's scale endpoint does; the drain of a
 * scale-down is followed by the run through the changer's `onSettling`.
 */
export function scheduleScaleCalls(options: {
  readonly calls: ReadonlyArray<{ readonly atMs: number; readonly ref: FunctionRef; readonly replicas: number }>;
  readonly clock: VirtualClock;
  readonly changer: Changer;
  readonly track: (work: Promise<unknown>) => void;
}): void {
  const { clock, changer, track } = options;
  for (const call of options.calls) {
    const { ref } = call;
    clock.setTimeout(() => {
      track(changer.change(ref, 'api', ({ policy }) => decideManual({ requested: call.replicas, policy })));
    }, call.atMs - clock.now());
  }
}
