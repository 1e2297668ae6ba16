import { TimerHeap } from '../core/timers.js';
import { yieldToLoop } from '../core/yield-to-loop.js';
import { refKey, type FunctionRef } from '../core/ref.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { PolicyKind } from '../policy/index.js';
import type { Ownership } from '../providers/setup.js';
import type { FunctionInfo, ReplicaProvider } from '../providers/types.js';
import type { InvocationLog } from './activity.js';
import type { Evaluation, EvaluateContext } from './evaluate.js';
import { LocalIdleSource, type IdleSource } from './idle.js';
import type { Engine } from './index.js';
import { reportEvery } from './replica-gauges.js';
import { FunctionScaler, type ScalerContext } from './scaler.js';
import type { RemoteSignals } from './signals.js';
import { wake } from './wake.js';

/** Default time between two evaluations of an active function, ms. */
export const DEFAULT_TICK_MS = 1000;
/** Functions read and evaluated between two turns of the event loop in a sweep. */
export const SWEEP_BATCH = 500;

/** A function's policy kind, or why its labels are invalid. */
export type KindResult = { readonly ok: true; readonly kind: PolicyKind } | { readonly ok: false; readonly problems: readonly string[] };

/** Also the hidden queues the policies add (EvaluateContext): a firing alert's `value`, stored async calls. */
export interface ScalersOptions extends Pick<EvaluateContext, 'externalQueue' | 'asyncBacklog'> {
  readonly engine: Engine;
  readonly provider: ReplicaProvider;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly defaultNamespace: string;
  /** Time between two evaluations while a function is active, ms; DEFAULT_TICK_MS when absent. */
  readonly tickMs?: number;
  /** Which functions this gateway decides for (the owner of their bucket); all when absent. */
  readonly ownership?: Pick<Ownership, 'owns' | 'onChange'>;
  /** The other gateways' load (member Leases or Prometheus), refreshed every tick. */
  readonly remote?: RemoteSignals;
  /** The gateway's record of traffic per function (idle deadlines). */
  readonly activity: InvocationLog;
  /** Whether a function is idle at its deadline; this gateway's record when absent. */
  readonly idleSource?: IdleSource;
  /** Asking again after the idle source said not idle, ms. */
  readonly idleRecheckMs: number;
  /** Called with every piece of async work an event or a due time starts (the simulator follows them). */
  readonly track?: (work: Promise<unknown>) => void;
  /** Runs when this gateway starts deciding for more functions (a new leader), before they are read: arms their pending alert scale-downs. */
  readonly adopted?: () => Promise<void>;
}

/** Work done since start, for tests and the footprint bench. */
export interface ScalerStats {
  readonly functions: number;
  readonly evaluations: number;
  /** Due entries on the timer heap now. */
  readonly timers: number;
}

/**
 * One scaler per function (src/engine/scaler.ts), fed by events: provider notifications, a
 * quiet function's first request (`dispatcher.onActive`), a request that had to queue
 * (`onQueued`), a wake (`onNeedReplica`), its own due times on one timer heap. `start` reads
 * every function once (a top-up to min happens then); after that, work grows with what
 * happens, not with the number of functions. Gauges of replica states are set at scrape time.
 */
export class Scalers {
  readonly timers: TimerHeap;
  private readonly scalers = new Map<string, FunctionScaler>();
  private readonly byLabel = new Map<string, FunctionScaler>();
  /** First reads of functions whose labels are not known yet: a burst shares one. */
  private readonly loading = new Map<string, Promise<FunctionScaler>>();
  private readonly ctx: ScalerContext;
  private readonly log: Logger;
  private readonly unsubscribe: Array<() => void> = [];
  private sweeping: Promise<void> | undefined;
  /** Since when this gateway decides (built): a scaler made later starts its takeover then (a gain of ownership starts a new one). */
  private readonly since: number;
  private started = false;

  constructor(private readonly options: ScalersOptions) {
    const { engine } = options;
    this.since = engine.clock.now();
    this.log = options.logger.child({ component: 'scaler' });
    this.timers = new TimerHeap(engine.clock, (err, key) => this.log.error('due work failed', { key, error: err instanceof Error ? err.message : String(err) }));
    this.ctx = {
      dispatcher: engine.dispatcher,
      changer: engine.changer,
      clock: engine.clock,
      policies: engine.policies,
      timers: this.timers,
      log: this.log,
      metrics: options.metrics,
      defaultNamespace: options.defaultNamespace,
      tickMs: options.tickMs ?? DEFAULT_TICK_MS,
      owns: options.ownership === undefined ? () => true : (ref) => (options.ownership as Pick<Ownership, 'owns'>).owns(ref),
      activity: options.activity,
      idleSource: options.idleSource ?? new LocalIdleSource(options.activity),
      idleRecheckMs: options.idleRecheckMs,
      counters: { evaluations: 0 },
      gone: (scaler) => this.drop(scaler),
      spawn: options.track ?? (() => undefined),
      ...(options.externalQueue === undefined ? {} : { externalQueue: options.externalQueue }),
      ...(options.remote === undefined ? {} : { remote: options.remote }),
      ...(options.asyncBacklog === undefined ? {} : { asyncBacklog: options.asyncBacklog }),
    };
    const report = () => reportEvery(this.scalers); // replica-state gauges set when read (a scrape), from the dispatcher's counts
    options.metrics.beforeReplicaCollect.add(report);
    this.unsubscribe.push(() => options.metrics.beforeReplicaCollect.delete(report));
  }

  /** Subscribes to the events, then reads and evaluates every function once. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { engine, provider } = this.options;
    this.unsubscribe.push(
      provider.subscribe((ref, state) => this.scaler(ref).observe(state)),
      engine.dispatcher.onActive((ref) => this.scalers.get(refKey(ref))?.poke(this.ctx.tickMs)),
      engine.dispatcher.onQueued((ref) => this.ctx.spawn(this.evaluateNow(ref))),
    );
    engine.onNeedReplica((ref) => this.ctx.spawn(wake(engine, ref, this.log, this.options.defaultNamespace)));
    const { ownership } = this.options;
    if (ownership !== undefined) this.unsubscribe.push(ownership.onChange(() => this.ctx.spawn(this.reown())));
    await this.tick();
    if (this.options.remote !== undefined) this.every('remote', () => this.refreshRemote());
  }

  /** Stops every due time and subscription; resolves once a sweep under way has finished. */
  async stop(): Promise<void> {
    this.started = false;
    for (const off of this.unsubscribe.splice(0)) off();
    this.timers.close();
    await this.sweeping;
  }

  /**
   * Reads every function (one provider list) and evaluates each whose kind a policy decides
   * (those this gateway owns); arms idle deadlines; forgets functions that are gone. At
   * start, when this gateway gains buckets, and when asked (tests). Never throws.
   */
  tick(): Promise<void> {
    this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweep(): Promise<void> {
    try {
      const functions = await this.options.provider.listFunctions();
      const seen = new Set<string>();
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < functions.length; i++) {
        // Thousands of functions: a turn of the loop between batches (calls and webhooks are served meanwhile).
        if (i > 0 && i % SWEEP_BATCH === 0) await yieldToLoop();
        const fn = functions[i] as FunctionInfo;
        const scaler = this.scaler(fn.ref);
        seen.add(scaler.key);
        scaler.sync(fn);
        scaler.armIdle();
        work.push(scaler.evaluate());
      }
      for (const [key, scaler] of this.scalers) if (!seen.has(key)) this.drop(scaler);
      await Promise.all(work);
    } catch (err) {
      this.log.error('policy sweep failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * Evaluates one function's policy now (a request had to queue, an alert for a non-`rps`
   * kind). Reads the function first only when its labels are not known yet. Null when
   * nothing was evaluated (not the owner, `rps`, invalid labels, an error, which is logged).
   */
  async evaluateNow(ref: FunctionRef): Promise<Evaluation | null> {
    try {
      return await (await this.known(ref)).evaluateNow();
    } catch (err) {
      this.log.error('policy evaluation failed', { function: refKey(ref), error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }

  /** The function's policy kind (from its parsed labels; read once if not known). Provider errors propagate. */
  async kindOf(ref: FunctionRef): Promise<KindResult> {
    const spec = (await this.known(ref)).policy?.spec;
    if (spec === undefined) return { ok: false, problems: ['labels unknown'] };
    return spec.ok ? { ok: true, kind: spec.spec.kind } : spec;
  }

  /** The labels or an edit changed: parse again (read once) and evaluate now. */
  async refresh(ref: FunctionRef): Promise<void> {
    try {
      const state = await this.options.provider.getReplicas(ref);
      const scaler = this.scaler(ref);
      scaler.sync(state);
      scaler.armIdle();
      await scaler.evaluateNow();
    } catch (err) {
      this.log.warn('policy refresh failed', { function: refKey(ref), error: err instanceof Error ? err.message : String(err) });
    }
  }

  /**
   * Runs every `scale.zero` function's idle check now instead of at its deadline (reads the
   * function list once) among those this gateway owns; returns the functions scaled to zero.
   */
  async idleNow(): Promise<FunctionRef[]> {
    let functions: FunctionInfo[];
    try {
      functions = await this.options.provider.listFunctions();
    } catch (err) {
      this.log.warn('idler list failed', { error: err instanceof Error ? err.message : String(err) });
      return [];
    }
    const scaled: FunctionRef[] = [];
    for (const fn of functions) {
      if (!this.ctx.owns(fn.ref)) continue;
      const scaler = this.scaler(fn.ref);
      scaler.sync(fn);
      if (await scaler.checkIdle()) scaled.push(scaler.ref);
    }
    return scaled;
  }

  /** Work done since start. */
  stats(): ScalerStats {
    return { functions: this.scalers.size, evaluations: this.ctx.counters.evaluations, timers: this.timers.size };
  }

  /**
   * The function's scaler with its labels known: read once from the provider when they are
   * not (a burst shares the read). A scaler is made only once the read succeeds, so names
   * from an alert or a request for functions that do not exist leave nothing behind.
   */
  private known(ref: FunctionRef): Promise<FunctionScaler> {
    const key = refKey(ref);
    const scaler = this.scalers.get(key);
    if (scaler?.policy !== undefined) return Promise.resolve(scaler);
    let load = this.loading.get(key);
    if (load === undefined) {
      const read = this.options.provider.getReplicas(ref).then((state) => {
        const found = this.scaler(ref);
        found.sync(state);
        return found;
      });
      load = read.finally(() => this.loading.delete(key));
      this.loading.set(key, load);
    }
    return load;
  }

  /** A function that is gone: its due times, series and entry go. */
  private drop(scaler: FunctionScaler): void {
    scaler.forget();
    this.scalers.delete(scaler.key);
    this.byLabel.delete(scaler.label);
  }

  private scaler(ref: FunctionRef): FunctionScaler {
    const key = refKey(ref);
    let scaler = this.scalers.get(key);
    if (scaler === undefined) {
      scaler = new FunctionScaler({ name: ref.name, namespace: ref.namespace }, this.ctx, this.since);
      this.scalers.set(key, scaler);
      this.byLabel.set(scaler.label, scaler);
    }
    return scaler;
  }

  /** Runs `task` every tick on the heap until stopped (at a fixed cadence: a slow task does not stretch it). */
  private every(key: string, task: () => Promise<void> | void): void {
    const run = async () => {
      const next = this.ctx.clock.now() + this.ctx.tickMs;
      await task();
      if (this.started) this.timers.set(key, Math.max(next, this.ctx.clock.now()), () => this.ctx.spawn(run()));
    };
    this.timers.set(key, this.ctx.clock.now() + this.ctx.tickMs, () => this.ctx.spawn(run()));
  }

  /**
   * This gateway gained or lost buckets: the functions it no longer owns drop their due
   * times (and their takeover: a later gain is a new one), pending alert scale-downs of the
   * ones it owns now are armed, and a sweep reads and evaluates them.
   */
  private async reown(): Promise<void> {
    if (!this.started) return;
    for (const scaler of this.scalers.values()) if (!this.ctx.owns(scaler.ref)) scaler.disown();
    await this.options.adopted?.().catch((err: unknown) => this.log.error('pending scale-downs not armed', { error: err instanceof Error ? err.message : String(err) }));
    // A sweep under way may have passed the newly owned functions before the change: one more after it.
    await this.sweeping;
    await this.tick();
  }

  /** Reads the other gateways' load; functions with load there are looked at now. */
  private async refreshRemote(): Promise<void> {
    const { remote } = this.options;
    if (remote === undefined) return;
    await remote.refresh();
    for (const label of remote.busyLabels()) this.byLabel.get(label)?.poke(0); // evaluated where owned only
  }
}
