/**
 * The engine's event vocabulary, as plain data: the event log lives in src/engine/events.ts;
 * providers (a Kubernetes Event sink) read these types without importing the engine.
 */

/** Who asked for a change; `provider` for what the provider reports by itself (a replica crashed). */
export type EventSource = 'alert' | 'idler' | 'waker' | 'api' | 'policy' | 'provider';

/**
 * What happened. Decisions: `scale_up`, `scale_down`, `unchanged` (recorded too), and
 * `scale_failed` when applying one failed. Replica lifecycle: `scale_up_start` (a replica
 * asked for), `scale_up_complete` (it is ready), `drain_start` (it takes no new requests),
 * `scale_down_complete` (it was removed), `replica_crashed` (it ended without being asked to;
 * reason `exited`, `signal`, `start-timeout` or `spawn-failed`; inputs: `code`, `signal`,
 * `crashes` in a row, `restartInMs`, `error`). `policy_invalid`: an edit of the function's
 * named policy was refused (inputs name the policy, the keys at fault and the problems).
 */
export type EventAction =
  | 'scale_up'
  | 'scale_down'
  | 'unchanged'
  | 'scale_failed'
  | 'scale_up_start'
  | 'scale_up_complete'
  | 'drain_start'
  | 'scale_down_complete'
  | 'replica_crashed'
  | 'policy_invalid';

/**
 * The routine replica lifecycle steps, which `?lifecycle=false` and `events --no-lifecycle`
 * leave out; `replica_crashed` is not routine and stays.
 */
export const LIFECYCLE_ACTIONS: ReadonlySet<EventAction> = new Set<EventAction>(['scale_up_start', 'scale_up_complete', 'drain_start', 'scale_down_complete']);

/** One engine event: a decision (changing something or not) or a replica lifecycle step. */
export interface EngineEvent {
  /** Epoch milliseconds, from the engine's clock. */
  readonly time: number;
  /** The `function_name` label value. */
  readonly function: string;
  readonly source: EventSource;
  readonly action: EventAction;
  /** Desired replicas before and after. */
  readonly from: number;
  readonly to: number;
  /** A reason word (`step-up`, `unchanged`, `drained`, `drain-timeout`, ...). */
  readonly reason: string;
  /** What the decision saw (bounded, JSON-safe), opening with the count `before` and `after` it; empty for lifecycle events. */
  readonly inputs: Readonly<Record<string, unknown>>;
  /** The replica id, for lifecycle events. */
  readonly replica?: string;
  /** True for a decision recorded in a dry run: it was not applied. Absent otherwise. */
  readonly dryRun?: boolean;
}

/** Receives every event as it is recorded (a Kubernetes Event sink, a logger). */
export type EventSink = (event: EngineEvent) => void;

/** Where sinks are attached: the engine's event log (src/engine/events.ts), as a provider sees it. */
export interface EventSinks {
  /** Adds a sink; returns the function that removes it. */
  addSink(sink: EventSink): () => void;
}
