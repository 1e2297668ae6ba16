import type { EventSinks } from '../core/events.js';
import type { AlertStateStore } from '../policy/alert-state.js';
import type { NamedPolicySource } from './named-policies.js';
import type { ReplicaProvider } from './types.js';

/** A provider plus the parts that make several scaler replicas act as one. */
export interface ProviderSetup {
  readonly provider: ReplicaProvider;
  /** Shared alert state; the in-memory store when absent. */
  readonly store?: AlertStateStore;
  /** Whether this replica runs the idler; always true when absent. */
  readonly isLeader?: () => boolean;
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
