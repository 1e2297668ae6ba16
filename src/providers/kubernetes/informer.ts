import type { Logger } from 'winston';
import type { KubeApi } from './client.js';
import type { DeploymentLike } from './objects.js';
import { ListWatchStream, type CachedFacts, type FactsListener, type InformerOptions, type ListWatchSource } from './list-watch.js';
import { sharedNamespace } from './memo.js';
import { OPT_IN_SELECTORS, STATE_ANNOTATION } from './opt-in.js';

/**
 * Annotation keys alert-scaler reads (scale settings in their long and short forms, the
 * named policy, the alert state); a Deployment's other annotations (kubectl's
 * last-applied-configuration: the whole manifest) are not kept.
 */
export const READ_ANNOTATION_PREFIXES: readonly string[] = ['com.openfaas.', 'scale.', 'alert-scaler.io/'];

/** What alert-scaler knows about one Deployment, from the list+watch cache: a lean record, no API object. */
export interface DeploymentFacts extends CachedFacts {
  readonly uid: string;
  readonly desired: number;
  /** status.availableReplicas, else status.readyReplicas, else 0. */
  readonly ready: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Only the annotations alert-scaler reads (READ_ANNOTATION_PREFIXES), but the alert state (a policy input, parsed when it changes). */
  readonly annotations: Readonly<Record<string, string>>;
  /** The alert state annotation's text (STATE_ANNOTATION); undefined when none. */
  readonly alertState?: string | undefined;
  /** The pod template's container port named `http`, else the first, else 8080: a pod's port when no EndpointSlice names one. */
  readonly port: number;
}

/** The annotations of the Deployments that keep none (most): one shared empty object. */
const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});

function readAnnotations(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (READ_ANNOTATION_PREFIXES.some((p) => key.startsWith(p))) kept[key] = value;
  }
  return kept;
}

/** `annotations`, or the shared empty object when it has no key. */
function orShared(annotations: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  for (const _ in annotations) return annotations;
  return NO_ANNOTATIONS;
}

function portOf(d: DeploymentLike): number {
  const ports = (d.spec?.template?.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
  return (ports.find((p) => p.name === 'http') ?? ports[0])?.containerPort ?? 8080;
}

/** Reduces a Deployment (typed or raw JSON from a watch) to its lean facts. */
export function factsOf(d: DeploymentLike): DeploymentFacts {
  // The alert state changes with every step: kept apart, so the annotations (policy inputs) stay the same object's equal.
  const { [STATE_ANNOTATION]: alertState, ...annotations } = readAnnotations(d.metadata?.annotations);
  return {
    name: d.metadata?.name ?? '',
    namespace: sharedNamespace(d.metadata?.namespace ?? ''),
    uid: d.metadata?.uid ?? '',
    resourceVersion: d.metadata?.resourceVersion ?? '',
    // The apiserver defaults spec.replicas to 1.
    desired: d.spec?.replicas ?? 1,
    ready: d.status?.availableReplicas ?? d.status?.readyReplicas ?? 0,
    labels: { ...(d.metadata?.labels ?? {}) },
    annotations: orShared(annotations),
    ...(alertState === undefined ? {} : { alertState }),
    port: portOf(d),
  };
}

/** Same keys with the same values (the same object at once). */
export function sameMap(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * `next` with `previous`'s labels and annotations objects where they are equal: a step
 * rewrites the Deployment (its alert state, its count) but seldom its labels, and the
 * engine's parses of them (request limits, policies) are kept per object.
 */
export function carryFacts(previous: DeploymentFacts, next: DeploymentFacts): DeploymentFacts {
  const labels = sameMap(previous.labels, next.labels) ? previous.labels : next.labels;
  const annotations = sameMap(previous.annotations, next.annotations) ? previous.annotations : next.annotations;
  return labels === next.labels && annotations === next.annotations ? next : { ...next, labels, annotations };
}

/** The cached facts in the shape of a Deployment (what DeploymentSnapshots holds), at the cached resourceVersion. */
export function deploymentOf(f: DeploymentFacts): DeploymentLike {
  return {
    // The maps are shared, not copied: neither side writes to them.
    metadata: {
      name: f.name,
      namespace: f.namespace,
      uid: f.uid,
      resourceVersion: f.resourceVersion,
      labels: f.labels as Record<string, string>,
      annotations: (f.alertState === undefined ? f.annotations : { ...f.annotations, [STATE_ANNOTATION]: f.alertState }) as Record<string, string>,
    },
    spec: { replicas: f.desired },
    status: { availableReplicas: f.ready },
  };
}

/** The managed Deployments of a namespace (OPT_IN_SELECTORS), reduced to DeploymentFacts. */
export function deploymentSource(api: KubeApi): ListWatchSource<DeploymentLike, DeploymentFacts> {
  return {
    resource: 'deployments',
    selectors: OPT_IN_SELECTORS,
    list: (ns, options) => api.listDeployments(ns, options),
    watch: (ns, selector, rv, onEvent, onDone) => api.watchDeployments(ns, rv, onEvent, onDone, selector),
    facts: factsOf,
    carry: carryFacts,
  };
}

/** How long a deletion from one stream waits for another stream to add the object (its labels moved it across selectors), ms. */
export const MOVE_GRACE_MS = 1000;

/**
 * A list+watch cache of one kind of object in some namespaces: one stream per namespace and
 * label selector (ListWatchStream), seen as one cache. An object two streams hold for a
 * moment (its labels moved it from one selector to the other) is the first stream's; the
 * listener hears of a change only when that merged view changes. The two streams' events
 * come in no set order, so with several selectors a deletion is told after MOVE_GRACE_MS,
 * unless another stream adds the object meanwhile (then it is one change).
 */
export class Informer<T, F extends CachedFacts> {
  private readonly streams = new Map<string, Array<ListWatchStream<T, F>>>();
  /** Deletions waiting out MOVE_GRACE_MS, by `namespace/name`: what the listener last heard of. */
  private readonly pendingDeletes = new Map<string, { readonly previous: F; readonly timer: NodeJS.Timeout }>();
  private readonly multiple: boolean;

  constructor(
    source: ListWatchSource<T, F>,
    namespaces: readonly string[],
    private readonly onChange: FactsListener<F>,
    logger: Logger,
    options: InformerOptions,
  ) {
    const log = logger.child({ resource: source.resource });
    this.multiple = source.selectors.length > 1;
    for (const ns of namespaces) {
      const streams: Array<ListWatchStream<T, F>> = [];
      for (const selector of source.selectors) {
        const stream: ListWatchStream<T, F> = new ListWatchStream(source, ns, selector, (prev, next) => this.changed(stream, prev, next), log, options);
        streams.push(stream);
      }
      this.streams.set(ns, streams);
    }
  }

  /** Lists every stream (rejects with the first failure), then watches them in the background. */
  async start(): Promise<void> {
    await Promise.all(this.every().map((s) => s.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.every().map((s) => s.stop()));
    for (const { timer } of this.pendingDeletes.values()) clearTimeout(timer);
    this.pendingDeletes.clear();
  }

  get(namespace: string, name: string): F | undefined {
    for (const s of this.streams.get(namespace) ?? []) {
      const found = s.cache.get(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Every cached object once. */
  all(): F[] {
    const out: F[] = [];
    for (const streams of this.streams.values()) {
      streams.forEach((s, i) => {
        for (const [name, facts] of s.cache) if (i === 0 || this.get(s.namespace, name) === facts) out.push(facts);
      });
    }
    return out;
  }

  /** Objects cached, counted once. */
  get size(): number {
    return this.all().length;
  }

  private every(): Array<ListWatchStream<T, F>> {
    return [...this.streams.values()].flat();
  }

  /** A stream changed `previous` → `next` (its cache already holds `next`): tell the listener what the merged view did. */
  private changed(stream: ListWatchStream<T, F>, previous: F | null, next: F | null): void {
    const current = next ?? previous;
    if (current === null) return;
    let before: F | undefined;
    for (const s of this.streams.get(stream.namespace) ?? []) {
      before = s === stream ? (previous ?? undefined) : s.cache.get(current.name);
      if (before !== undefined) break;
    }
    const after = this.get(stream.namespace, current.name);
    if (before === after) return;
    const key = `${stream.namespace}/${current.name}`;
    const pending = this.pendingDeletes.get(key);
    if (pending !== undefined && after !== undefined) {
      // Added again by another stream within the grace: one change from what the listener last heard.
      clearTimeout(pending.timer);
      this.pendingDeletes.delete(key);
      this.onChange(pending.previous, after);
      return;
    }
    if (after === undefined && before !== undefined && this.multiple) {
      const timer = setTimeout(() => {
        this.pendingDeletes.delete(key);
        if (this.get(stream.namespace, current.name) === undefined) this.onChange(before, null);
      }, MOVE_GRACE_MS);
      timer.unref();
      this.pendingDeletes.set(key, { previous: before, timer });
      return;
    }
    this.onChange(before ?? null, after ?? null);
  }
}
