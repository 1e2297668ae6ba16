import type { ReplicaInfo } from '../types.js';
import type { DeploymentFacts } from './informer.js';
import { deriveReplicas, sameReplicas, type PodFacts, type SliceFacts } from './replicas.js';

/**
 * Per function: its replicas as last derived, and the caches they are derived from. The pods
 * and slices are short arrays, not Maps (a function has a pod or a few and one slice: a Map
 * each costs ten times the array at 10,000 functions); `derive` reads all of them anyway.
 */
interface Entry {
  replicas: readonly ReplicaInfo[];
  /** Replicas that take requests (phase `ready`, with an address): `replicas` itself when all do. */
  routable: readonly ReplicaInfo[];
  readonly pods: PodFacts[];
  readonly slices: SliceFacts[];
  /** Made when first needed (most functions never drain or see an endpoint without a pod): two fewer collections per function. */
  draining: Set<string> | null;
  firstSeen: Map<string, number> | null;
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;
const NONE: ReadonlySet<string> = new Set();

/** Puts `item` in place of the one of the same name, or at the end. */
function put<T extends { readonly name: string }>(list: T[], item: T): void {
  const at = list.findIndex((x) => x.name === item.name);
  if (at < 0) list.push(item);
  else list[at] = item;
}

/** Removes the item named `name`, if there. */
function drop<T extends { readonly name: string }>(list: T[], name: string): void {
  const at = list.findIndex((x) => x.name === name);
  if (at >= 0) list.splice(at, 1);
}

/**
 * The replicas of every function, kept current from the pod, EndpointSlice and Deployment
 * caches (the engine's dispatcher routes to them and counts their requests). Each `*Changed`
 * method returns the keys (`namespace/name`) of the functions whose replica list changed.
 * A pod belongs to the Deployment its facts name (`PodFacts.owner`); a slice to the function
 * its `kubernetes.io/service-name` names. A function without any slice is routed to its
 * pods' own addresses (the Deployment's port).
 */
export class ReplicaIndex {
  private readonly entries = new Map<string, Entry>();

  /**
   * @param deployment the cached Deployment of a function key (its port), undefined when not (yet) cached
   * @param now epoch ms, for endpoints whose pod is not (yet) cached
   */
  constructor(
    private readonly deployment: (fnKey: string) => DeploymentFacts | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The replicas of a function; empty when none is known. */
  replicas(fnKey: string): readonly ReplicaInfo[] {
    return this.entries.get(fnKey)?.replicas ?? [];
  }

  /** Replicas that take requests now. */
  readyCount(fnKey: string): number {
    return this.entries.get(fnKey)?.routable.length ?? 0;
  }

  /** Marks replicas as chosen for removal (no new requests) or, with `on` false, takes that back. */
  setDraining(fnKey: string, ids: readonly string[], on: boolean): boolean {
    const entry = this.entry(fnKey);
    for (const id of ids) {
      if (on) (entry.draining ??= new Set()).add(id);
      else entry.draining?.delete(id);
    }
    return this.derive(fnKey);
  }

  podChanged(previous: PodFacts | null, next: PodFacts | null): string[] {
    const current = next ?? previous;
    if (current === null) return [];
    // `previous` is what this index was last told of the pod, so its owner is where the pod sits now.
    const before = previous === null || previous.owner === '' ? undefined : key(previous.namespace, previous.owner);
    const after = next === null || next.owner === '' ? undefined : key(next.namespace, next.owner);
    const left = before === undefined || before === after ? undefined : this.entries.get(before);
    if (left !== undefined) drop(left.pods, current.name);
    if (after !== undefined) put(this.entry(after).pods, next as PodFacts);
    return [before, after].filter((k, i, all): k is string => k !== undefined && all.indexOf(k) === i && this.derive(k));
  }

  sliceChanged(previous: SliceFacts | null, next: SliceFacts | null): string[] {
    const changed: string[] = [];
    if (previous !== null && previous.service !== '') {
      const k = key(previous.namespace, previous.service);
      const entry = this.entries.get(k);
      if (entry !== undefined) drop(entry.slices, previous.name);
      if (next?.service !== previous.service && this.derive(k)) changed.push(k);
    }
    if (next !== null && next.service !== '') {
      const k = key(next.namespace, next.service);
      put(this.entry(k).slices, next);
      if (this.derive(k)) changed.push(k);
    }
    return changed;
  }

  /**
   * A Deployment came, went or changed its port: its replicas are derived again (pods routed
   * by their own address need the port). Returns its key when its replica list changed.
   */
  deploymentChanged(previous: DeploymentFacts | null, next: DeploymentFacts | null): string[] {
    const current = next ?? previous;
    if (current === null) return [];
    const fnKey = key(current.namespace, current.name);
    if (next === null) {
      this.entries.delete(fnKey);
      return [];
    }
    if (previous !== null && previous.port === next.port) return [];
    return this.derive(fnKey) ? [fnKey] : [];
  }

  private entry(fnKey: string): Entry {
    let entry = this.entries.get(fnKey);
    if (entry === undefined) {
      entry = {
        replicas: [], routable: [],
        pods: [], slices: [], draining: null, firstSeen: null,
      };
      this.entries.set(fnKey, entry);
    }
    return entry;
  }

  /** Re-derives a function's replicas; true when the list changed. Forgets state of replicas that are gone. */
  private derive(fnKey: string): boolean {
    const entry = this.entries.get(fnKey);
    if (entry === undefined) return false;
    const endpoints = entry.slices.length === 1 ? (entry.slices[0]?.endpoints ?? []) : entry.slices.flatMap((s) => s.endpoints);
    // No slice at all: the Service is not labelled (faas-netes CE); the pods are their own endpoints.
    const podPort = entry.slices.length === 0 ? (this.deployment(fnKey)?.port ?? null) : null;
    const replicas = deriveReplicas(entry.pods, endpoints, entry.draining ?? NONE, (id) => {
      entry.firstSeen ??= new Map();
      const seen = entry.firstSeen.get(id) ?? this.now();
      entry.firstSeen.set(id, seen);
      return seen;
    }, podPort);
    const ids = new Set(replicas.map((r) => r.id));
    for (const id of entry.draining ?? NONE) if (!ids.has(id)) entry.draining?.delete(id);
    for (const id of entry.firstSeen?.keys() ?? NONE) if (!ids.has(id)) entry.firstSeen?.delete(id);
    if (entry.draining?.size === 0) entry.draining = null;
    if (entry.firstSeen?.size === 0) entry.firstSeen = null;
    const same = sameReplicas(replicas, entry.replicas);
    // Nothing left of the function here (its pods and slices gone): forget it, so deleted functions leave nothing.
    if (entry.pods.length === 0 && entry.slices.length === 0) this.entries.delete(fnKey);
    if (same) return false;
    entry.replicas = replicas;
    const routable = replicas.filter((r) => r.phase === 'ready' && r.address !== null);
    entry.routable = routable.length === replicas.length ? replicas : routable;
    return true;
  }
}
