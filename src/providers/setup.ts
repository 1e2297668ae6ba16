import type { EventSinks } from '../core/events.js';
import type { FunctionRef } from '../core/ref.js';
import type { AlertStateStore } from '../policy/alert-state.js';
import type { NamedPolicySource } from './named-policies.js';
import type { ReplicaProvider } from './types.js';

/**
 * Which gateway decides for a function. Each function is owned by exactly one gateway at a
 * time (Kubernetes: the holder of its bucket Lease); its scaler, idler and policy reloads run
 * there. A setup without one owns everything (one gateway, the local provider).
 */
export interface Ownership {
  /** This gateway's identity. */
  readonly self: string;
  /** Whether this gateway decides for `ref` now: it holds the function's bucket and is within its renew deadline. */
  owns(ref: FunctionRef): boolean;
  /** The identity of the function's owner; null when none is known (a bucket between owners). */
  ownerOf(ref: FunctionRef): string | null;
  /** Calls `listener` whenever this gateway gained or lost buckets; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** One function's load at this gateway, as it publishes it for the others (see RemoteLoad in src/engine/signals.ts). */
export interface FunctionLoad {
  /** The function's `function_name` label. */
  readonly function: string;
  /** Requests held here: in flight plus waiting. */
  readonly present: number;
  /** Of those, the ones waiting, by reason. */
  readonly queued: { readonly busy: number; readonly no_replica: number };
  /** Requests that arrived here so far (a counter: a change between two readings is traffic). */
  readonly started: number;
}

/** The other gateways' load, summed per function label, as the engine's RemoteLoadSource reads it. */
export interface MemberLoadSource {
  read(signal: AbortSignal): Promise<ReadonlyMap<string, Omit<FunctionLoad, 'function'>>>;
}

/**
 * The live gateways as this one sees them: how many, this one's rank, and where each takes
 * function calls. Read at every pick (see GatewayShard in src/engine/replicas.ts).
 */
export interface MemberShard {
  readonly count: number;
  readonly index: number;
  addressOf(index: number): URL | null;
  /** Calls `listener` whenever the count or this gateway's rank changed; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** What the gateway hands its setup once it runs: where it listens, and its load to publish. */
export interface GatewayFacts {
  /** The function listener's URL as the other gateways reach it (read each round: known once it listens); null when none. */
  readonly address: () => string | null;
  /** This gateway's busiest functions (at most `limit`), to publish for the others. */
  readonly load: (limit: number) => readonly FunctionLoad[];
}

/** A provider plus the parts that make several scaler replicas act as one. */
export interface ProviderSetup {
  readonly provider: ReplicaProvider;
  /** Shared alert state; the in-memory store when absent. */
  readonly store?: AlertStateStore;
  /** Which functions this gateway decides for; all of them when absent. */
  readonly ownership?: Ownership;
  /** The live gateway count and this gateway's rank (the hard limit's split); the config's count/index when absent. */
  readonly members?: MemberShard;
  /** The other gateways' load without Prometheus (published by each member); absent: Prometheus or none. */
  readonly remoteLoad?: MemberLoadSource;
  /** The gateway tells its setup where it listens and how to read its load (at composition, before `start`). */
  readonly attachGateway?: (facts: GatewayFacts) => void;
  /**
   * Attaches a sink to the engine's event log that records applied changes where operators
   * look for them (a Kubernetes Event); returns the function that detaches it.
   */
  readonly attachEvents?: (events: EventSinks) => () => void;
  /** Named policies (`com.openfaas.scale.policy=<name>`): the stack file's `policies:`, ConfigMaps. */
  readonly policies?: NamedPolicySource;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}
