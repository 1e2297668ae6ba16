import type { VirtualClock } from '../core/clock.js';
import type { Changer } from '../engine/changer.js';
import type { Engine } from '../engine/index.js';
import { PolicyLoop } from '../engine/loop.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { decideManual } from '../policy/manual.js';
import type { SpecDefaults } from '../policy/spec.js';
import type { FunctionRef, ReplicaProvider } from '../providers/types.js';

/** What the simulated run lends the policy loop. */
export interface SimPolicyLoopOptions {
  readonly engine: Engine;
  readonly clock: VirtualClock;
  readonly provider: ReplicaProvider;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  readonly defaults: SpecDefaults;
  /** Time between two passes, ms. */
  readonly tickMs: number;
  /** Last instant of the run, ms: no tick is scheduled past it. */
  readonly endMs: () => number;
  /** Hands the run every promise the loop starts, so it settles at the right virtual time. */
  readonly track: (work: Promise<unknown>) => void;
  /** The functions the loop decides (those whose kind is not `rps`). */
  readonly refs: readonly FunctionRef[];
}

/**
 * The engine's changer with each change's `settled` (a drained scale-down's removal) handed
 * to `track`: the policy loop does not pass it on, and the run must wait for it before
 * moving the clock past the drain's last call. Everything else is the changer itself.
 */
function settlingChanger(changer: Changer, track: (work: Promise<unknown>) => void): Changer {
  const wrapped = Object.create(changer) as Changer;
  wrapped.change = (ref, source, decide, hooks) => {
    const outcome = changer.change(ref, source, decide, hooks);
    track(outcome.then((o) => o.settled));
    return outcome;
  };
  return wrapped;
}

/**
 * The gateway's PolicyLoop (src/engine/loop.ts) on a simulated run: always leader, a pass
 * every `tickMs` from the start (as `start()` schedules on the gateway) until the run's
 * end, on the run's VirtualClock, every promise tracked by the run. A pass is the loop's
 * own evaluation of each non-`rps` function (`evaluateNow`, the decision path `tick` takes
 * for it) without the gauges `tick` sets for every function: nobody scrapes a simulated
 * run, and at one pass per simulated second the gauges and the rps functions' label
 * parsing were most of a day-long run's time.
 */
export class SimPolicyLoop {
  private readonly loop: PolicyLoop;

  constructor(private readonly options: SimPolicyLoopOptions) {
    const { engine } = options;
    this.loop = new PolicyLoop({
      provider: options.provider,
      dispatcher: engine.dispatcher,
      changer: settlingChanger(engine.changer, options.track),
      clock: options.clock,
      logger: options.logger,
      metrics: options.metrics,
      defaultNamespace: options.defaultNamespace,
      defaults: options.defaults,
      tickMs: options.tickMs,
      isLeader: () => true,
    });
  }

  /** Schedules the first pass one tick from now. */
  start(): void {
    this.schedule();
  }

  /** A request had to wait: the function is decided at once, as on the gateway. */
  evaluateNow(ref: FunctionRef): void {
    this.options.track(this.loop.evaluateNow(ref));
  }

  private schedule(): void {
    const { clock, tickMs, endMs, track } = this.options;
    if (clock.now() + tickMs > endMs()) return;
    clock.setTimeout(() => {
      this.schedule();
      for (const ref of this.options.refs) track(this.loop.evaluateNow(ref));
    }, tickMs);
  }
}

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
 * scale-down is tracked by the run.
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
      track(changer.change(ref, 'api', ({ policy }) => decideManual({ requested: call.replicas, policy })).then((outcome) => track(outcome.settled)));
    }, call.atMs - clock.now());
  }
}
