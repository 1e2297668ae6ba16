/**
 * Lifecycle phase of one replica. `starting`: created, not yet passing its readiness check;
 * `ready`: may take requests; `draining`: takes no new requests, finishing in-flight ones
 * (chosen for removal); `stopping`: being terminated (a signal sent, a pod terminating).
 * A neutral module (imports nothing): providers report it, policies and the engine read it.
 */
export type ReplicaPhase = 'starting' | 'ready' | 'draining' | 'stopping';
