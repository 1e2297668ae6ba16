/**
 * An in-repo fake Kubernetes API server: plain node:http on 127.0.0.1, speaking the real
 * JSON wire format for the parts alert-scaler uses (discovery, Deployments with list/watch
 * and the scale subresource, Events, Leases, ConfigMaps). Request bodies may also be protobuf
 * (kubectl's typed creates, such as `kubectl create configmap`); answers are always JSON. It is checked against the real kubectl in
 * kubectl.test.ts so it cannot drift from what a real client accepts.
 *
 * Every write bumps one global resourceVersion and is delivered to open watches. Small
 * "controllers" play the ReplicaSet and EndpointSlice controllers: spec.replicas drives pods
 * (each with its own IP 127.0.0.N, all loopback here), the pods drive the Deployment status
 * and one EndpointSlice per Deployment (`kubernetes.io/service-name=<name>`). Faults (500s, 409s, dropped watches,
 * latency, compaction) are injected through methods on the server object.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { discoveryResponse } from './fake-api/discovery.js';
import { decodeContinue, encodeContinue, eventFor, page, pageSorted } from './fake-api/paging.js';
import { PodIndex } from './fake-api/pod-index.js';
import { decodeProtobufObject, PROTOBUF_MEDIA_TYPE } from './fake-api/protobuf.js';
import {
  barePod, deletionOrder, deploymentStatus, isTerminating, loopbackIp, matchLabelsOf, newPod, optInLabels, selects, setReadyConditions, sliceFor, statusFromPods,
} from './fake-api/workloads.js';
import {
  HttpError, TYPES, apiVersionOf, clone, formatSelector, labelsOf, mergePatch, parseFieldSelector, parseLabelSelector, parsePath, rbacVerb, statusObject, typeKey,
  type Json, type K8sObject, type ParsedPath, type ResourceType,
} from './fake-api/wire.js';

export { statusObject } from './fake-api/wire.js';

/** A request as the fake saw it; `verb` is the RBAC verb Kubernetes would authorize. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  readonly body: unknown;
  readonly verb: string | null;
  readonly group: string | null;
  readonly resource: string | null;
  readonly subresource: string | null;
  readonly namespace: string | null;
}

/** A fault: the next `count` requests matching method and path answer `status`. */
export interface FaultRule {
  readonly method?: string;
  readonly path?: string | RegExp;
  readonly status: number;
  count: number;
  /** Sent as the Retry-After header (seconds); see throttleNext. */
  readonly retryAfterSeconds?: number;
}

interface WatchStream {
  readonly type: ResourceType;
  readonly namespace: string | null;
  readonly filter: (o: K8sObject) => boolean;
  readonly res: ServerResponse;
  readonly timer: NodeJS.Timeout | undefined;
}

interface HistoryEntry {
  readonly rv: number;
  readonly typeKey: string;
  readonly eventType: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: K8sObject;
  /** The object before a MODIFIED: a filtered watch turns it into ADDED or DELETED. */
  readonly previous?: K8sObject;
}

export interface FakeDeploymentInit {
  readonly name: string;
  readonly namespace?: string;
  readonly replicas?: number;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** Ready replicas at creation; defaults to `replicas`. The other pods stay not ready until setPodReady. */
  readonly ready?: number;
  /** Container port named `http` (the EndpointSlice port); default 8080. */
  readonly port?: number;
  /**
   * Labels of the pod template besides `app: <name>`; default the Deployment's opt-in labels
   * (`faas_function`, `alert-scaler.io/enabled`), as faas-netes copies a function's labels to its pods.
   */
  readonly podLabels?: Record<string, string>;
  /**
   * Labels of the function's Service, which the EndpointSlice controller copies to its slices;
   * default the Deployment's opt-in labels. `{}` is a Service without labels (as faas-netes CE creates).
   */
  readonly serviceLabels?: Record<string, string>;
}

export interface FakeApiServerOptions {
  /**
   * Delay before a new pod turns ready (its endpoint and the Deployment status follow). null:
   * ready at creation, in the same write; 0 or more: a separate write after that many ms.
   */
  readonly readyDelayMs?: number | null;
  /** How long a removed pod stays terminating before it is gone; null (default): deleted at once. */
  readonly terminationDelayMs?: number | null;
  /** How a watch resume from a compacted resourceVersion fails: a 410 ERROR event (as a real apiserver with the watch cache) or an HTTP 410. */
  readonly expiredAs?: 'event' | 'http';
  /** Every pod gets this IP (one local server answers for all of them); default a distinct 127.0.0.N each. */
  readonly podIp?: string | null;
  /** Keep `sent`: every object the fake sent in a list or a watch event (off by default: it grows). */
  readonly recordSent?: boolean;
}

/** The fake API server. Create with `FakeApiServer.start()`. */
export class FakeApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Every request received, in order (discovery included). */
  readonly requests: RecordedRequest[] = [];
  /** Called with each request right after it is recorded, before it is answered (to act as another client). */
  onRequest: ((request: RecordedRequest) => void) | undefined;
  /** Added latency in ms before any request is answered (watch streams included). */
  latencyMs = 0;
  /** With `recordSent`: `<resource>/<namespace>/<name>` of every object sent in a list page or a watch event, in order. */
  readonly sent: string[] = [];
  /** Objects sent in list pages and watch events, by resource (`pods`), always counted. */
  readonly sentCount = new Map<string, number>();
  private readonly podIndex = new PodIndex();
  /** Sorted objects of recent paged lists, by type, namespace, selector and resourceVersion (listPage). */
  private readonly listSnapshots = new Map<string, Array<{ key: string; object: K8sObject }>>();
  /** Labels of each Deployment's Service (`namespace/name`), copied to its EndpointSlice. */
  private readonly serviceLabels = new Map<string, Record<string, string>>();
  private rv = 1;
  private compactedRv = 0;
  private readonly stores = new Map<string, Map<string, K8sObject>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watches = new Set<WatchStream>();
  private readonly faults: FaultRule[] = [];
  private scaleConflicts = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly options: Required<FakeApiServerOptions>;
  /** Number of the next pod IP (loopbackIp). */
  private nextIp = 2;
  /** Pods whose readiness a test set (setPodReady): the simulated kubelet leaves them alone. */
  private readonly pinnedReadiness = new Set<string>();

  private constructor(private readonly server: Server, options: FakeApiServerOptions) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.options = {
      readyDelayMs: options.readyDelayMs === undefined ? 0 : options.readyDelayMs,
      terminationDelayMs: options.terminationDelayMs ?? null,
      expiredAs: options.expiredAs ?? 'event',
      podIp: options.podIp ?? null,
      recordSent: options.recordSent ?? false,
    };
    for (const t of TYPES) this.stores.set(typeKey(t), new Map());
    for (const ns of ['default', 'openfaas', 'openfaas-fn']) this.ensureNamespace(ns);
  }

  /** Creates a Namespace object unless it exists. */
  ensureNamespace(name: string): void {
    if (this.store('', 'namespaces').has(`/${name}`)) return;
    this.create(this.type('', 'namespaces'), '', { metadata: { name }, status: { phase: 'Active' } });
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const holder: { fake?: FakeApiServer } = {};
    const server = createServer((req, res) => {
      const { fake } = holder;
      if (fake === undefined) throw new Error('request before start');
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) fake.sendStatus(res, 500, String(err));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.fake = new FakeApiServer(server, options);
    return holder.fake;
  }

  /** Stops timers, closes watches and the listener. */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.dropWatches(true);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Writes a kubeconfig pointing at the fake (http + `insecure-skip-tls-verify: true`) and returns its path. */
  async writeKubeconfig(dir: string, namespace = 'openfaas-fn'): Promise<string> {
    const file = join(dir, 'kubeconfig.yaml');
    const text = [
      'apiVersion: v1', 'kind: Config', 'preferences: {}', 'current-context: fake',
      'clusters:', '- name: fake', '  cluster:', `    server: ${this.url}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: fake', '  user: {}',
      'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: fake', `    namespace: ${namespace}`, '',
    ].join('\n');
    await writeFile(file, text, 'utf8');
    return file;
  }

  // ---- seeding and inspection ------------------------------------------------------------

  /** Creates a Deployment (with the selector and template a real one needs), its pods and its EndpointSlice. */
  addDeployment(init: FakeDeploymentInit): K8sObject {
    const namespace = init.namespace ?? 'openfaas-fn';
    const replicas = init.replicas ?? 1;
    const ready = init.ready ?? replicas;
    const labels = init.labels ?? { faas_function: init.name };
    const podLabels = { app: init.name, ...(init.podLabels ?? optInLabels(labels)) };
    this.serviceLabels.set(`${namespace}/${init.name}`, init.serviceLabels ?? optInLabels(labels));
    this.ensureNamespace(namespace);
    const obj: K8sObject = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: init.name, namespace, labels, annotations: init.annotations ?? {}, generation: 1 },
      spec: {
        replicas,
        selector: { matchLabels: { app: init.name } },
        template: {
          metadata: { labels: podLabels },
          spec: { containers: [{ name: init.name, image: `ghcr.io/example/${init.name}:latest`, ports: [{ name: 'http', containerPort: init.port ?? 8080, protocol: 'TCP' }] }] },
        },
      },
      status: deploymentStatus(replicas, ready, 1),
    };
    const created = this.create(this.type('apps', 'deployments'), namespace, obj);
    for (let i = 0; i < replicas; i += 1) {
      const pod = this.createPod(created, i < ready);
      if (i >= ready) this.pinnedReadiness.add(`${namespace}/${pod.metadata.name}`);
    }
    this.syncSlice(created);
    return created;
  }

  /** Creates `count` bare pods `<prefix>-<i>` that no Deployment owns (a shared namespace's other workloads). */
  addPods(count: number, options: { namespace?: string; prefix?: string; labels?: Record<string, string> } = {}): void {
    const namespace = options.namespace ?? 'openfaas-fn';
    this.ensureNamespace(namespace);
    for (let i = 0; i < count; i += 1) {
      const ip = this.options.podIp ?? loopbackIp(this.nextIp);
      this.nextIp += 1;
      this.create(this.type('', 'pods'), namespace, barePod(`${options.prefix ?? 'other'}-${i}`, namespace, options.labels ?? { app: 'other' }, ip));
    }
  }

  /** The pods of a Deployment (copies, terminating ones included), oldest first. */
  pods(deployment: string, namespace = 'openfaas-fn'): K8sObject[] {
    const d = this.store('apps', 'deployments').get(`${namespace}/${deployment}`);
    return d === undefined ? [] : this.podsOf(d).map(clone);
  }

  /**
   * Sets a pod's readiness as its kubelet would after a probe (Ready condition, endpoint,
   * Deployment status); the pod then keeps it until the next call.
   */
  setPodReady(pod: string, ready: boolean, namespace = 'openfaas-fn'): void {
    this.pinnedReadiness.add(`${namespace}/${pod}`);
    const updated = this.mutateObject('', 'pods', namespace, pod, (p) => setReadyConditions(p, ready));
    this.resyncOwner(updated);
  }

  /** The stored Deployment (a copy), or undefined. */
  deployment(name: string, namespace = 'openfaas-fn'): K8sObject | undefined {
    const o = this.store('apps', 'deployments').get(`${namespace}/${name}`);
    return o === undefined ? undefined : clone(o);
  }

  /** spec.replicas of a stored Deployment. */
  replicasOf(name: string, namespace = 'openfaas-fn'): number | undefined {
    return (this.deployment(name, namespace)?.['spec'] as Json | undefined)?.['replicas'] as number | undefined;
  }

  /** Objects of one resource (copies), e.g. `objects('', 'events')`. */
  objects(group: string, resource: string, namespace?: string): K8sObject[] {
    return [...this.store(group, resource).values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace).map(clone);
  }

  /** Changes a Deployment as another actor would (kubectl, a controller); bumps resourceVersion and notifies watches. */
  mutateDeployment(name: string, namespace: string, mutate: (d: K8sObject) => void): K8sObject {
    return this.mutateObject('apps', 'deployments', namespace, name, mutate);
  }

  /** Changes any stored object as another actor would; bumps resourceVersion and notifies watches. */
  mutateObject(group: string, resource: string, namespace: string, name: string, mutate: (o: K8sObject) => void): K8sObject {
    const current = this.store(group, resource).get(`${namespace}/${name}`);
    if (current === undefined) throw new Error(`no ${resource} ${namespace}/${name}`);
    const next = clone(current);
    mutate(next);
    return this.update(this.type(group, resource), next, current);
  }

  /**
   * Deletes an object as another actor would and notifies watches. A deleted pod is replaced
   * (its ReplicaSet still wants it); a deleted Deployment takes its pods and EndpointSlice along.
   */
  deleteObject(group: string, resource: string, namespace: string, name: string): void {
    const gone = this.remove(group, resource, namespace, name);
    if (gone === undefined) return;
    if (resource === 'pods') this.resyncOwner(gone);
    if (group === 'apps' && resource === 'deployments') {
      for (const pod of this.podsOf(gone)) this.remove('', 'pods', namespace, pod.metadata.name);
      this.remove('discovery.k8s.io', 'endpointslices', namespace, sliceFor(gone, [], {}).metadata.name);
    }
  }

  private remove(group: string, resource: string, namespace: string, name: string): K8sObject | undefined {
    const store = this.store(group, resource);
    const current = store.get(`${namespace}/${name}`);
    if (current === undefined) return undefined;
    store.delete(`${namespace}/${name}`);
    if (resource === 'pods' && group === '') this.podIndex.update(current, undefined);
    this.pinnedReadiness.delete(`${namespace}/${name}`);
    const rv = this.bump();
    const gone = clone(current);
    gone.metadata.resourceVersion = String(rv);
    this.publish(this.type(group, resource), 'DELETED', gone, rv);
    return gone;
  }

  /** Current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  // ---- fault injection -------------------------------------------------------------------

  /** The next `count` requests matching method (any if omitted) and path (substring or RegExp) answer `status` with a Status body. */
  failNext(rule: { method?: string; path?: string | RegExp; status: number; count?: number }): void {
    this.faults.push({ ...rule, count: rule.count ?? 1 });
  }

  /** The next `count` scale writes (PUT or PATCH of the scale, a PATCH of a Deployment's spec.replicas) answer 409 Conflict without applying. */
  conflictNextScaleWrites(count: number): void {
    this.scaleConflicts += count;
  }

  /** Ends every open watch: cleanly (the apiserver's timeout) or abruptly (a connection reset). */
  dropWatches(abrupt = false): void {
    for (const w of this.watches) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      if (abrupt) w.res.destroy();
      else w.res.end();
    }
    this.watches.clear();
  }

  /** Ends every open watch with a 410 Expired ERROR event, as the apiserver does when its watch cache moved on. */
  expireWatches(): void {
    const event = `${JSON.stringify({ type: 'ERROR', object: statusObject(410, 'The resourceVersion for the provided watch is too old.') })}\n`;
    for (const w of this.watches) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.res.end(event);
    }
    this.watches.clear();
  }

  /** Forgets pending faults (failNext, conflictNextScaleWrites) and latency. */
  clearFaults(): void {
    this.faults.length = 0;
    this.scaleConflicts = 0;
    this.latencyMs = 0;
    this.onRequest = undefined;
  }

  /** Number of open watch streams. */
  get openWatches(): number {
    return this.watches.size;
  }

  /**
   * Sends every open watch a BOOKMARK at the current resourceVersion, as the apiserver does
   * (about once a minute) to watches that asked with allowWatchBookmarks: the watcher may resume
   * from it though none of its objects changed.
   */
  bookmarkWatches(): void {
    for (const w of this.watches) {
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { apiVersion: apiVersionOf(w.type), kind: w.type.kind, metadata: { resourceVersion: String(this.rv) } } })}\n`);
    }
  }

  /** Forgets history up to now: a watch resumed from an older resourceVersion gets 410 Expired. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Drops the sorted pages kept for paged lists (a continue token from before then lists again from the start of its snapshot's objects as they are now). */
  forgetListSnapshots(): void {
    this.listSnapshots.clear();
  }

  /** Requests the fake received whose RBAC verb is known (API calls, not discovery). */
  apiCalls(): RecordedRequest[] {
    return this.requests.filter((r) => r.verb !== null);
  }

  // ---- internals: storage ----------------------------------------------------------------

  private type(group: string, resource: string): ResourceType {
    const t = TYPES.find((x) => x.group === group && x.resource === resource);
    if (t === undefined) throw new Error(`unknown type ${group}/${resource}`);
    return t;
  }

  private store(group: string, resource: string): Map<string, K8sObject> {
    const s = this.stores.get(`${group}/${resource}`);
    if (s === undefined) throw new Error(`unknown store ${group}/${resource}`);
    return s;
  }

  private bump(): number {
    this.rv += 1;
    return this.rv;
  }

  private create(t: ResourceType, namespace: string, obj: K8sObject): K8sObject {
    const store = this.stores.get(typeKey(t));
    if (store === undefined) throw new HttpError(404, 'the server could not find the requested resource');
    let name = obj.metadata.name as string | undefined;
    if ((name === undefined || name === '') && typeof obj.metadata['generateName'] === 'string') {
      name = `${obj.metadata['generateName']}${randomUUID().slice(0, 5)}`;
    }
    if (name === undefined || name === '') throw new HttpError(422, `${t.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    if (store.has(`${namespace}/${name}`)) {
      throw new HttpError(409, `${t.resource}${t.group === '' ? '' : `.${t.group}`} "${name}" already exists`, { name, group: t.group, kind: t.resource });
    }
    const rv = this.bump();
    const stored: K8sObject = {
      ...clone(obj),
      apiVersion: apiVersionOf(t),
      kind: t.kind,
      metadata: {
        ...clone(obj.metadata), name, ...(t.namespaced === false ? {} : { namespace }), uid: randomUUID(), resourceVersion: String(rv),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(t.resource === 'deployments' ? { generation: 1 } : {}),
      },
    };
    store.set(`${namespace}/${name}`, stored);
    if (t.resource === 'pods' && t.group === '') this.podIndex.update(undefined, stored);
    this.publish(t, 'ADDED', stored, rv);
    return clone(stored);
  }

  private update(t: ResourceType, next: K8sObject, current: K8sObject): K8sObject {
    const store = this.stores.get(typeKey(t));
    if (store === undefined) throw new Error('no store');
    next.metadata = { ...next.metadata, name: current.metadata.name, namespace: current.metadata.namespace, uid: current.metadata['uid'], creationTimestamp: current.metadata['creationTimestamp'] };
    next['apiVersion'] = apiVersionOf(t);
    next['kind'] = t.kind;
    if (t.group === 'apps' && t.resource === 'deployments') {
      const specChanged = JSON.stringify(next['spec']) !== JSON.stringify(current['spec']);
      const generation = (current.metadata['generation'] as number) + (specChanged ? 1 : 0);
      next.metadata['generation'] = generation;
      // The pod and EndpointSlice writes land before this one, as the status reflects them.
      if (specChanged) next['status'] = this.reconcile(next);
    }
    const rv = this.bump();
    next.metadata.resourceVersion = String(rv);
    store.set(`${current.metadata.namespace ?? ''}/${current.metadata.name}`, next);
    if (t.resource === 'pods' && t.group === '') this.podIndex.update(current, next);
    this.publish(t, 'MODIFIED', next, rv, current);
    return clone(next);
  }

  // ---- internals: the simulated ReplicaSet, kubelet and EndpointSlice controllers ---------

  private podsOf(d: K8sObject): K8sObject[] {
    const selector = matchLabelsOf(d);
    return this.podIndex.candidates(d.metadata.namespace ?? '', selector)
      .filter((p) => selects(selector, p))
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
  }

  private ownerOf(pod: K8sObject): K8sObject | undefined {
    return [...this.store('apps', 'deployments').values()].find((d) => d.metadata.namespace === pod.metadata.namespace && selects(matchLabelsOf(d), pod));
  }

  private createPod(d: K8sObject, ready: boolean): K8sObject {
    const ip = this.options.podIp ?? loopbackIp(this.nextIp);
    this.nextIp += 1;
    return this.create(this.type('', 'pods'), d.metadata.namespace ?? '', newPod(d, ip, ready));
  }

  /**
   * Makes the pods match spec.replicas (creating, or removing in ReplicaSet order), syncs the
   * EndpointSlice, and returns the Deployment status the pods now give.
   */
  private reconcile(d: K8sObject): Json {
    const replicas = ((d['spec'] as Json)['replicas'] as number | undefined) ?? 1;
    const live = this.podsOf(d).filter((p) => !isTerminating(p));
    const readyNow = this.options.readyDelayMs === null;
    const created: string[] = [];
    for (let i = live.length; i < replicas; i += 1) created.push(this.createPod(d, readyNow).metadata.name);
    for (const victim of [...live].sort(deletionOrder).slice(0, Math.max(0, live.length - replicas))) this.terminate(victim);
    if (created.length > 0 && this.options.readyDelayMs !== null) this.later(this.options.readyDelayMs, () => this.becomeReady(d, created));
    this.syncSlice(d);
    return statusFromPods(this.podsOf(d), d.metadata['generation'] as number);
  }

  /** The simulated kubelet: new pods pass their readiness probe (unless a test pinned them). */
  private becomeReady(d: K8sObject, names: readonly string[]): void {
    const namespace = d.metadata.namespace ?? '';
    const pods = this.store('', 'pods');
    let changed = false;
    for (const name of names) {
      const key = `${namespace}/${name}`;
      const pod = pods.get(key);
      if (pod === undefined || this.pinnedReadiness.has(key) || isTerminating(pod)) continue;
      this.mutateObject('', 'pods', namespace, name, (p) => setReadyConditions(p, true));
      changed = true;
    }
    if (changed) this.resync(namespace, d.metadata.name);
  }

  private terminate(pod: K8sObject): void {
    const namespace = pod.metadata.namespace ?? '';
    const delay = this.options.terminationDelayMs;
    if (delay === null) {
      this.remove('', 'pods', namespace, pod.metadata.name);
      return;
    }
    this.mutateObject('', 'pods', namespace, pod.metadata.name, (p) => {
      p.metadata['deletionTimestamp'] = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      p.metadata['deletionGracePeriodSeconds'] = Math.ceil(delay / 1000);
    });
    this.later(delay, () => {
      const gone = this.remove('', 'pods', namespace, pod.metadata.name);
      if (gone !== undefined) this.resyncOwner(gone);
    });
  }

  /** Reconciles the Deployment that owns a pod and writes its status when the pods changed it. */
  private resyncOwner(pod: K8sObject): void {
    const owner = this.ownerOf(pod);
    if (owner !== undefined) this.resync(owner.metadata.namespace ?? '', owner.metadata.name);
  }

  private resync(namespace: string, name: string): void {
    const current = this.store('apps', 'deployments').get(`${namespace}/${name}`);
    if (current === undefined) return;
    const status = this.reconcile(current);
    if (JSON.stringify(status) === JSON.stringify(current['status'])) return;
    const next = clone(current);
    next['status'] = status;
    this.update(this.type('apps', 'deployments'), next, current);
  }

  /** Creates or updates the Deployment's EndpointSlice when its endpoints changed. */
  private syncSlice(d: K8sObject): void {
    const wanted = sliceFor(d, this.podsOf(d), this.serviceLabels.get(`${d.metadata.namespace ?? ''}/${d.metadata.name}`) ?? optInLabels(labelsOf(d)));
    const namespace = d.metadata.namespace ?? '';
    const current = this.store('discovery.k8s.io', 'endpointslices').get(`${namespace}/${wanted.metadata.name}`);
    if (current === undefined) {
      this.create(this.type('discovery.k8s.io', 'endpointslices'), namespace, wanted);
      return;
    }
    if (JSON.stringify(current['endpoints']) === JSON.stringify(wanted['endpoints']) && JSON.stringify(current['ports']) === JSON.stringify(wanted['ports'])) return;
    const next = clone(current);
    next['endpoints'] = wanted['endpoints'];
    next['ports'] = wanted['ports'];
    this.update(this.type('discovery.k8s.io', 'endpointslices'), next, current);
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  private publish(t: ResourceType, eventType: HistoryEntry['eventType'], object: K8sObject, rv: number, before?: K8sObject): void {
    const snapshot = clone(object);
    const previous = before === undefined ? undefined : clone(before);
    this.history.push({ rv, typeKey: typeKey(t), eventType, object: snapshot, ...(previous === undefined ? {} : { previous }) });
    for (const w of this.watches) {
      if (w.type !== t) continue;
      const event = eventFor(eventType, snapshot, previous, (o) => (w.namespace === null || w.namespace === o.metadata.namespace) && w.filter(o));
      if (event !== null) this.send(w.res, t, event);
    }
  }

  /** Writes one watch event and counts the object as sent. */
  private send(res: ServerResponse, t: ResourceType, event: { type: string; object: K8sObject }): void {
    this.noteSent(t, event.object);
    res.write(`${JSON.stringify(event)}\n`);
  }

  private noteSent(t: ResourceType, o: K8sObject): void {
    this.sentCount.set(t.resource, (this.sentCount.get(t.resource) ?? 0) + 1);
    if (this.options.recordSent) this.sent.push(`${t.resource}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  }

  // ---- internals: HTTP -------------------------------------------------------------------

  private sendJson(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  private sendStatus(res: ServerResponse, code: number, message: string, details?: Json): void {
    this.sendJson(res, code, statusObject(code, message, details));
  }

  /** The request body: JSON, or a protobuf envelope decoded to the same JSON object (kubectl's typed creates). */
  private async readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (chunks.length === 0) return undefined;
    const raw = Buffer.concat(chunks);
    if ((req.headers['content-type'] ?? '').split(';')[0]?.trim() === PROTOBUF_MEDIA_TYPE) return decodeProtobufObject(raw);
    const text = raw.toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new HttpError(400, `the body of the request was in an unknown format: ${text.slice(0, 40)}`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const body = method === 'GET' ? undefined : await this.readBody(req).catch((e: unknown) => e);
    const parsed = parsePath(url.pathname);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    this.requests.push({
      method, path: url.pathname, query, contentType: req.headers['content-type'], accept: req.headers.accept,
      body: body instanceof Error ? undefined : body,
      verb: parsed === null ? null : rbacVerb(method, parsed, watch),
      group: parsed?.type.group ?? null, resource: parsed?.type.resource ?? null,
      subresource: parsed?.subresource ?? null, namespace: parsed?.namespace ?? null,
    });
    const recorded = this.requests.at(-1);
    if (this.onRequest !== undefined && recorded !== undefined) this.onRequest(recorded);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (res.destroyed) return;
    const fault = this.faults.find((f) => f.count > 0 && (f.method === undefined || f.method === method)
      && (f.path === undefined || (typeof f.path === 'string' ? url.pathname.includes(f.path) : f.path.test(url.pathname))));
    if (fault !== undefined) {
      fault.count -= 1;
      const what = parsed === null ? url.pathname : `${parsed.type.resource}${parsed.subresource === null ? '' : `/${parsed.subresource}`}`;
      const message = fault.status === 403
        ? `${what} is forbidden: User "system:serviceaccount:openfaas:alert-scaler" cannot ${parsed === null ? method.toLowerCase() : rbacVerb(method, parsed, watch)} resource "${what}" in API group "${parsed?.type.group ?? ''}" in the namespace "${parsed?.namespace ?? ''}"`
        : `injected fault ${fault.status}`;
      if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
      this.sendStatus(res, fault.status, message);
      return;
    }
    try {
      if (body instanceof Error) throw body;
      if (parsed === null) return this.discovery(url.pathname, res);
      await this.resource(method, parsed, query, body, req, res, watch);
    } catch (err) {
      if (err instanceof HttpError) this.sendStatus(res, err.code, err.message, err.details);
      else throw err;
    }
  }

  private discovery(path: string, res: ServerResponse): void {
    const found = discoveryResponse(path, new URL(this.url).host);
    if (found === null) return this.sendStatus(res, 404, 'the server could not find the requested resource');
    if (found.text === true) {
      res.writeHead(found.code, { 'Content-Type': 'text/plain' });
      res.end(String(found.body));
      return;
    }
    this.sendJson(res, found.code, found.body);
  }

  private notFound(t: ResourceType, name: string): HttpError {
    return new HttpError(404, `${t.resource}${t.group === '' ? '' : `.${t.group}`} "${name}" not found`, { name, group: t.group, kind: t.resource });
  }

  private conflict(t: ResourceType, name: string): HttpError {
    return new HttpError(409,
      `Operation cannot be fulfilled on ${t.resource}${t.group === '' ? '' : `.${t.group}`} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: t.group, kind: t.resource });
  }

  private async resource(method: string, p: ParsedPath, query: Record<string, string>, body: unknown, req: IncomingMessage, res: ServerResponse, watch: boolean): Promise<void> {
    const store = this.stores.get(typeKey(p.type));
    if (store === undefined) throw new HttpError(404, 'the server could not find the requested resource');
    if (p.name === null) {
      if (method === 'GET' && watch) return this.openWatch(p, query, req, res);
      if (method === 'GET') return this.list(p, query, res);
      if (method === 'POST') {
        if (p.namespace === null && p.type.namespaced !== false) throw new HttpError(405, 'the server does not allow this method on the requested resource');
        const obj = body as K8sObject | undefined;
        if (obj?.metadata === undefined) throw new HttpError(400, 'metadata is required');
        return this.sendJson(res, 201, this.create(p.type, p.namespace ?? '', obj));
      }
      throw new HttpError(405, 'the server does not allow this method on the requested resource');
    }
    const key = `${p.namespace ?? ''}/${p.name}`;
    const current = store.get(key);
    if (current === undefined) throw this.notFound(p.type, p.name);
    if (p.subresource === 'scale' && p.type.resource === 'deployments') return this.scale(method, p.type, current, body, req, res);
    if (p.subresource !== null) throw new HttpError(404, 'the server could not find the requested resource');
    switch (method) {
      case 'GET': return this.sendJson(res, 200, clone(current));
      case 'PUT': {
        const obj = body as K8sObject | undefined;
        if (obj?.metadata === undefined) throw new HttpError(400, 'metadata is required');
        const expected = obj.metadata.resourceVersion;
        if (expected !== undefined && expected !== '' && expected !== current.metadata.resourceVersion) throw this.conflict(p.type, p.name);
        return this.sendJson(res, 200, this.update(p.type, clone(obj), current));
      }
      case 'PATCH': {
        const patch = this.patchBody(req, body);
        if (this.scaleConflicts > 0 && p.type.resource === 'deployments' && (patch['spec'] as Json | undefined)?.['replicas'] !== undefined) {
          this.scaleConflicts -= 1;
          throw this.conflict(p.type, p.name);
        }
        const expected = ((patch['metadata'] as Json | undefined)?.['resourceVersion']) as string | undefined;
        if (expected !== undefined && expected !== current.metadata.resourceVersion) throw this.conflict(p.type, p.name);
        const next = mergePatch(current, patch) as K8sObject;
        return this.sendJson(res, 200, this.update(p.type, next, current));
      }
      case 'DELETE': {
        // DeleteOptions.preconditions: a delete of another version is a 409, as the apiserver answers.
        const preconditions = ((body as Json | undefined)?.['preconditions'] ?? {}) as Json;
        const expected = preconditions['resourceVersion'] as string | undefined;
        if (expected !== undefined && expected !== current.metadata.resourceVersion) throw this.conflict(p.type, p.name);
        this.deleteObject(p.type.group, p.type.resource, p.namespace ?? '', p.name);
        return this.sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: p.name, group: p.type.group, kind: p.type.resource, uid: current.metadata['uid'] } });
      }
      default: throw new HttpError(405, 'the server does not allow this method on the requested resource');
    }
  }

  private patchBody(req: IncomingMessage, body: unknown): Json {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (ct !== 'application/merge-patch+json' && ct !== 'application/strategic-merge-patch+json') {
      throw new HttpError(415, `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got ${ct ?? ''})`);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'patch body must be a JSON object');
    return body as Json;
  }

  private scaleOf(d: K8sObject): Json {
    const spec = d['spec'] as Json;
    const status = (d['status'] as Json | undefined) ?? {};
    return {
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata['uid'], resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata['creationTimestamp'] },
      spec: { replicas: spec['replicas'] },
      status: { replicas: status['replicas'] ?? 0, selector: formatSelector((spec['selector'] as Json | undefined)?.['matchLabels'] as Record<string, string> | undefined) },
    };
  }

  private scale(method: string, t: ResourceType, current: K8sObject, body: unknown, req: IncomingMessage, res: ServerResponse): void {
    if (method === 'GET') return this.sendJson(res, 200, this.scaleOf(current));
    let desired: Json;
    if (method === 'PUT') {
      desired = body as Json;
      if (desired?.['spec'] === undefined) throw new HttpError(422, 'Scale.autoscaling "x" is invalid: spec: Required value');
    } else if (method === 'PATCH') {
      desired = mergePatch(this.scaleOf(current), this.patchBody(req, body)) as Json;
    } else throw new HttpError(405, 'the server does not allow this method on the requested resource');
    if (this.scaleConflicts > 0) {
      this.scaleConflicts -= 1;
      throw this.conflict(t, current.metadata.name);
    }
    const expected = (desired['metadata'] as Json | undefined)?.['resourceVersion'] as string | undefined;
    if (expected !== undefined && expected !== '' && expected !== current.metadata.resourceVersion) throw this.conflict(t, current.metadata.name);
    const replicas = (desired['spec'] as Json)['replicas'];
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new HttpError(422, `Scale.autoscaling "${current.metadata.name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
    }
    const next = clone(current);
    (next['spec'] as Json)['replicas'] = replicas;
    const updated = this.update(t, next, current);
    this.sendJson(res, 200, this.scaleOf(updated));
  }

  /**
   * A list, paged when `limit` is set: each page carries a `continue` token (the list's
   * resourceVersion and the last key) while more remain; every page reports the first page's
   * resourceVersion, so a watch from it replays whatever changed while paging.
   */
  private list(p: ParsedPath, query: Record<string, string>, res: ServerResponse): void {
    const store = this.stores.get(typeKey(p.type));
    const match = this.matcher(query);
    const token = query['continue'] === undefined || query['continue'] === '' ? null : decodeContinue(query['continue'], this.compactedRv);
    const limit = Math.max(0, Math.floor(Number(query['limit'] ?? '0')) || 0);
    const inScope = (): Array<{ key: string; object: K8sObject }> => {
      const items: Array<{ key: string; object: K8sObject }> = [];
      for (const o of store?.values() ?? []) {
        if ((p.namespace === null || o.metadata.namespace === p.namespace) && match(o)) items.push({ key: `${o.metadata.namespace ?? ''}/${o.metadata.name}`, object: o });
      }
      return items;
    };
    const rv = token?.rv ?? this.rv;
    const { objects, last, remaining } = this.listPage(`${typeKey(p.type)}|${p.namespace ?? ''}|${query['labelSelector'] ?? ''}|${rv}`, inScope, token?.start ?? '', limit);
    for (const o of objects) this.noteSent(p.type, o);
    const metadata = { resourceVersion: String(rv), ...(last === null ? {} : { continue: encodeContinue({ rv, start: last }), remainingItemCount: remaining }) };
    this.sendJson(res, 200, { kind: `${p.type.kind}List`, apiVersion: apiVersionOf(p.type), metadata, items: objects });
  }

  /**
   * One page of a list. The later pages of a paged list come from the objects in scope when
   * its first page was served (kept, sorted, per type, namespace, selector and resourceVersion:
   * stored objects are replaced on write, never changed, so that is the snapshot at that
   * version, as the apiserver pages from one), so paging 50,000 objects does not filter and
   * sort them again per page.
   */
  private listPage(snapshotKey: string, inScope: () => Array<{ key: string; object: K8sObject }>, start: string, limit: number): ReturnType<typeof page<K8sObject>> {
    if (limit <= 0) return page(inScope(), start, 0);
    let sorted = this.listSnapshots.get(snapshotKey);
    if (sorted === undefined) {
      sorted = page(inScope(), '', 0).objects.map((object) => ({ key: `${object.metadata.namespace ?? ''}/${object.metadata.name}`, object }));
      this.listSnapshots.set(snapshotKey, sorted);
      // A few lists at a time (one per stream being listed); the oldest goes first.
      if (this.listSnapshots.size > 16) this.listSnapshots.delete(this.listSnapshots.keys().next().value as string);
    }
    return pageSorted(sorted, start, limit);
  }

  private matcher(query: Record<string, string>): (o: K8sObject) => boolean {
    const byLabel = parseLabelSelector(query['labelSelector']);
    const byField = parseFieldSelector(query['fieldSelector']);
    return (o) => byLabel(o) && byField(o);
  }

  private openWatch(p: ParsedPath, query: Record<string, string>, req: IncomingMessage, res: ServerResponse): void {
    const filter = this.matcher(query);
    const from = query['resourceVersion'];
    const inScope = (o: K8sObject): boolean => (p.namespace === null || o.metadata.namespace === p.namespace) && filter(o);
    if (from !== undefined && from !== '' && from !== '0' && Number(from) < this.compactedRv) {
      const message = `too old resource version: ${from} (${this.compactedRv})`;
      if (this.options.expiredAs === 'http') return this.sendStatus(res, 410, message);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: statusObject(410, message) })}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    if (from === undefined || from === '' || from === '0') {
      const store = this.stores.get(typeKey(p.type));
      for (const o of store?.values() ?? []) if (inScope(o)) this.send(res, p.type, { type: 'ADDED', object: o });
    } else {
      for (const h of this.history) {
        if (h.rv <= Number(from) || h.typeKey !== typeKey(p.type)) continue;
        const event = eventFor(h.eventType, h.object, h.previous, inScope);
        if (event !== null) this.send(res, p.type, event);
      }
    }
    const timeoutSeconds = Number(query['timeoutSeconds'] ?? '0');
    const timer = timeoutSeconds > 0 ? setTimeout(() => { this.watches.delete(stream); res.end(); }, timeoutSeconds * 1000) : undefined;
    const stream: WatchStream = { type: p.type, namespace: p.namespace, filter, res, timer };
    this.watches.add(stream);
    req.on('close', () => {
      if (timer !== undefined) clearTimeout(timer);
      this.watches.delete(stream);
    });
  }

  // ---- API priority and fairness -----------------------------------------------------------

  /**
   * The next `count` requests matching method and path answer 429 Too Many Requests with
   * `Retry-After: retryAfterSeconds`, as the apiserver's priority and fairness does when a
   * flow's queue is full.
   */
  throttleNext(rule: { method?: string; path?: string | RegExp; count?: number; retryAfterSeconds: number }): void {
    this.faults.push({ ...rule, status: 429, count: rule.count ?? 1 });
  }
}
