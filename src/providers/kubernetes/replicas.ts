/**
 * A function's replicas on Kubernetes, from two caches: its pods (id, owner, creation time,
 * terminating, IP, readiness) and the endpoints of its Service's EndpointSlices (address,
 * readiness). Pure reductions; the provider keeps the caches.
 */
import type { ReplicaInfo, ReplicaPhase } from '../types.js';
import type { KubeApi } from './client.js';
import type { EndpointSliceLike, PodLike } from './objects.js';
import { SERVICE_NAME_LABEL } from './client.js';
import type { CachedFacts, ListWatchSource } from './list-watch.js';
import { sharedNamespace } from './memo.js';
import { FAAS_FUNCTION_LABEL, OPT_IN_SELECTORS } from './opt-in.js';

/** What alert-scaler keeps of one pod: a lean record (no labels, no API object). */
export interface PodFacts extends CachedFacts {
  /**
   * The Deployment it belongs to: its controller ReplicaSet's name less `-<pod-template-hash>`
   * (the Deployment controller names a ReplicaSet `<deployment>-<hash>`), else its
   * `faas_function` label; '' when neither says.
   */
  readonly owner: string;
  /** status.podIP; '' before the pod has one. */
  readonly ip: string;
  /** Condition Ready is True. */
  readonly ready: boolean;
  /** metadata.creationTimestamp, epoch ms (0 when missing). */
  readonly createdAt: number;
  /** metadata.deletionTimestamp is set: the pod is shutting down. */
  readonly terminating: boolean;
  /** status.phase Succeeded or Failed: no longer a replica. */
  readonly finished: boolean;
}

/** One endpoint of an EndpointSlice. */
export interface EndpointFacts {
  /** The pod name from targetRef, else the address (an endpoint without a pod). */
  readonly id: string;
  /** `http://<ip>:<port>`; null when the slice has no port. */
  readonly address: URL | null;
  /** conditions.ready (absent means ready, as the API documents). */
  readonly ready: boolean;
  readonly terminating: boolean;
}

/** What alert-scaler keeps of one EndpointSlice. */
export interface SliceFacts extends CachedFacts {
  /** The Service it belongs to (label kubernetes.io/service-name): the function's name. */
  readonly service: string;
  readonly endpoints: readonly EndpointFacts[];
}

function epochMs(value: Date | string | undefined): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? 0 : ms;
  }
  return 0;
}

function ownerOf(p: PodLike): string {
  const labels = p.metadata?.labels ?? {};
  const rs = p.metadata?.ownerReferences?.find((o) => o.controller === true && o.kind === 'ReplicaSet')?.name;
  const hash = labels['pod-template-hash'];
  if (rs !== undefined && hash !== undefined && hash !== '' && rs.endsWith(`-${hash}`)) return rs.slice(0, -hash.length - 1);
  return labels[FAAS_FUNCTION_LABEL] ?? '';
}

/** Reduces a pod (typed or raw watch JSON) to its lean facts. */
export function podFactsOf(p: PodLike): PodFacts {
  const phase = p.status?.phase;
  return {
    name: p.metadata?.name ?? '',
    namespace: sharedNamespace(p.metadata?.namespace ?? ''),
    resourceVersion: p.metadata?.resourceVersion ?? '',
    owner: ownerOf(p),
    ip: p.status?.podIP ?? '',
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    createdAt: epochMs(p.metadata?.creationTimestamp),
    terminating: p.metadata?.deletionTimestamp !== undefined,
    finished: phase === 'Succeeded' || phase === 'Failed',
  };
}

function hostOf(ip: string, addressType: string | undefined): string {
  return addressType === 'IPv6' ? `[${ip}]` : ip;
}

/** Reduces an EndpointSlice to its facts; the port is the one named `http`, else the first. */
export function sliceFactsOf(s: EndpointSliceLike): SliceFacts {
  const ports = s.ports ?? [];
  const port = (ports.find((p) => p.name === 'http') ?? ports[0])?.port;
  const endpoints: EndpointFacts[] = [];
  for (const e of s.endpoints ?? []) {
    const ip = e.addresses?.[0];
    if (ip === undefined) continue;
    const pod = e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined;
    endpoints.push({
      id: pod ?? ip,
      address: port === undefined ? null : new URL(`http://${hostOf(ip, s.addressType)}:${port}`),
      ready: e.conditions?.ready ?? true,
      terminating: e.conditions?.terminating ?? false,
    });
  }
  return {
    name: s.metadata?.name ?? '',
    namespace: sharedNamespace(s.metadata?.namespace ?? ''),
    resourceVersion: s.metadata?.resourceVersion ?? '',
    service: s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? '',
    endpoints,
  };
}

/** The managed pods (OPT_IN_SELECTORS: their template carries the opt-in label); no other pod reaches the process. */
export function podSource(api: KubeApi): ListWatchSource<PodLike, PodFacts> {
  return {
    resource: 'pods',
    selectors: OPT_IN_SELECTORS,
    list: (ns, options) => api.listPods(ns, options),
    watch: (ns, selector, rv, onEvent, onDone) => api.watchPods(ns, rv, onEvent, onDone, selector),
    facts: podFactsOf,
  };
}

/**
 * The EndpointSlices of managed Services: the EndpointSlice controller copies a Service's
 * labels to its slices, so a Service labelled like its function (OPT_IN_SELECTORS) is picked.
 */
export function endpointSliceSource(api: KubeApi): ListWatchSource<EndpointSliceLike, SliceFacts> {
  return {
    resource: 'endpointslices',
    selectors: OPT_IN_SELECTORS.map((s) => `${s},${SERVICE_NAME_LABEL}`),
    list: (ns, options) => api.listEndpointSlices(ns, options),
    watch: (ns, selector, rv, onEvent, onDone) => api.watchEndpointSlices(ns, rv, onEvent, onDone, selector),
    facts: sliceFactsOf,
  };
}

interface Merged {
  id: string;
  address: URL | null;
  createdAt: number | null;
  ready: boolean;
  terminating: boolean;
}

/**
 * Joins a function's pods and endpoints by pod name into replicas. Phase: terminating pod or
 * endpoint → `stopping`; chosen for removal (`draining`) → `draining`; ready endpoint with an
 * address → `ready`; anything else (no endpoint yet, not ready) → `starting`. An endpoint
 * without a known pod is dated by `firstSeen(id)`. Sorted by creation, then id.
 *
 * `podPort`: when the function has no EndpointSlice at all (its Service carries no opt-in
 * label, as faas-netes CE creates it), each pod is its own endpoint: `http://<pod IP>:<podPort>`,
 * ready when its Ready condition is; null: no such fallback.
 */
export function deriveReplicas(
  pods: Iterable<PodFacts>,
  endpoints: Iterable<EndpointFacts>,
  draining: ReadonlySet<string>,
  firstSeen: (id: string) => number,
  podPort: number | null = null,
): ReplicaInfo[] {
  const byId = new Map<string, Merged>();
  for (const p of pods) {
    if (p.finished) continue;
    const address = podPort === null || p.ip === '' ? null : new URL(`http://${hostOf(p.ip, p.ip.includes(':') ? 'IPv6' : 'IPv4')}:${podPort}`);
    byId.set(p.name, { id: p.name, address, createdAt: p.createdAt, ready: podPort !== null && address !== null && p.ready, terminating: p.terminating });
  }
  for (const e of endpoints) {
    const m = byId.get(e.id) ?? { id: e.id, address: null, createdAt: null, ready: false, terminating: false };
    // The same endpoint can sit in two slices for a moment: a ready copy wins.
    if (m.address === null || e.ready) m.address = e.address;
    m.ready ||= e.ready && e.address !== null;
    m.terminating ||= e.terminating;
    byId.set(e.id, m);
  }
  const out: ReplicaInfo[] = [];
  for (const m of byId.values()) {
    let phase: ReplicaPhase = 'starting';
    if (m.terminating) phase = 'stopping';
    else if (draining.has(m.id)) phase = 'draining';
    else if (m.ready) phase = 'ready';
    out.push({ id: m.id, address: m.address, phase, createdAt: m.createdAt ?? firstSeen(m.id) });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

/** Same ids, addresses, phases and creation times in the same order. */
export function sameReplicas(a: readonly ReplicaInfo[], b: readonly ReplicaInfo[]): boolean {
  return a.length === b.length && a.every((r, i) => {
    const o = b[i];
    return o !== undefined && r.id === o.id && r.phase === o.phase && r.createdAt === o.createdAt && (r.address?.href ?? null) === (o.address?.href ?? null);
  });
}
