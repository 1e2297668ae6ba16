/*
 * Where named policies come from, as the providers' sources (a stack file's `policies:`, a
 * namespace's ConfigMaps) implement it. The decorator that applies them to a provider's
 * labels is NamedPolicyProvider (src/engine/named-policies.ts): it uses the policy's
 * translation and overlay, which a provider may not import.
 */

/**
 * Called when a named policy may have changed. `namespace` undefined: the policy of that
 * name in every namespace (the stack file's policies are not namespaced).
 */
export type NamedPolicyListener = (namespace: string | undefined, name: string) => void;

/** Called when a source refused new data as a whole (a file too large or not parsing): its last good policies stay. */
export type NamedPolicyProblemListener = (problems: readonly string[]) => void;

/** Where named policies come from: a stack file's `policies:`, the ConfigMaps of a namespace. */
export interface NamedPolicySource {
  /** The policy's key/value data as written, from the source's cache (no I/O); undefined when there is none. */
  get(namespace: string, name: string): Readonly<Record<string, string>> | undefined;
  /** Calls `listener` after a policy was added, changed or removed; returns the unsubscribe function. */
  subscribe(listener: NamedPolicyListener): () => void;
  /** Calls `listener` when new data was refused as a whole; returns the unsubscribe function. Optional. */
  onProblem?(listener: NamedPolicyProblemListener): () => void;
  /** Loads the policies and starts watching (rejects when the first load fails). */
  start(): Promise<void>;
  close(): Promise<void>;
}
