import type { Dispatcher } from '../engine/dispatcher.js';
import type { EngineEvent } from '../engine/events.js';
import type { FunctionRun } from './functions.js';
import type { SimGateway } from './gateway.js';
import type { TimelineState } from './timeline.js';

/** Every function's listed replicas (any phase) at `t`, in stack order. */
export interface ReplicaSample {
  readonly t: number;
  readonly replicas: readonly number[];
}

/**
 * Follows the run's engine: every scale-up from zero is a cold start, the first alert
 * scale-up after a function's overload sets its `reactionMs`, every replica change updates
 * its counters. Returns the engine's events, kept only when `keepEvents` (else empty).
 */
export function observeRun(gw: SimGateway, fns: readonly FunctionRun[], endMs: () => number, keepEvents: boolean): EngineEvent[] {
  const { engine, provider, clock } = gw;
  const byLabel = new Map(fns.map((f) => [f.label, f]));
  const byKey = new Map(fns.map((f) => [`${f.ref.namespace}/${f.ref.name}`, f]));
  const events: EngineEvent[] = [];
  engine.events.addSink((event) => {
    if (keepEvents) events.push(event);
    const f = byLabel.get(event.function);
    if (f === undefined || event.action !== 'scale_up') return;
    // A start from zero, whoever asked for it (the waker, the policy, the scale API).
    if (event.from === 0) f.counters.coldStarts += 1;
    if (event.source === 'alert' && f.reactionMs === null && f.overloadAt !== null && event.time >= f.overloadAt) f.reactionMs = event.time - f.overloadAt;
  });
  // After the dispatcher's own listener (subscribed first): its table is current, and counted.
  provider.subscribe((ref) => {
    const f = byKey.get(`${ref.namespace}/${ref.name}`);
    if (f !== undefined) f.counters.setReplicas(engine.dispatcher.replicaCount(ref), clock.now(), endMs());
  });
  return events;
}

/** The whole stack's replicas by phase and its waiting calls now: one point of the timeline. */
export function fleetState(dispatcher: Dispatcher, fns: readonly FunctionRun[]): TimelineState {
  let starting = 0;
  let ready = 0;
  let draining = 0;
  let stopping = 0;
  let queued = 0;
  for (const f of fns) {
    const waiting = dispatcher.queued(f.ref);
    queued += waiting.busy + waiting.no_replica;
    const counts = dispatcher.replicaCounts(f.ref);
    stopping += counts.stopping;
    draining += counts.draining;
    ready += counts.free + counts.busy;
    starting += counts.starting;
  }
  return { starting, ready, draining, stopping, queued };
}

/** Samples every function's listed replicas every `everyMs` from now to the end of the run. */
export function sampleReplicas(gw: SimGateway, fns: readonly FunctionRun[], everyMs: number, endMs: () => number, samples: ReplicaSample[]): void {
  const { clock, engine } = gw;
  const take = (): void => {
    samples.push({ t: clock.now(), replicas: fns.map((f) => engine.dispatcher.replicaCount(f.ref)) });
    if (clock.now() + everyMs <= endMs()) clock.setTimeout(take, everyMs);
  };
  take();
}
