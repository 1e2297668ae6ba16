/**
 * What the fake's simulated controllers write for a Deployment: its pods (as the ReplicaSet
 * controller creates and deletes them), its EndpointSlice (as the EndpointSlice controller
 * derives it from the pods) and its status. Pure builders; the server stores and publishes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { labelsOf, type Json, type K8sObject } from './wire.js';

/** The annotation the ReplicaSet controller reads to pick which pods to delete first. */
export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Pod IP number `n` as an address in 127.0.0.0/8 (all loopback here): 2 → 127.0.0.2. */
export function loopbackIp(n: number): string {
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** `pod-template-hash` of a Deployment (stable per name; the fake never changes templates). */
export function templateHash(deployment: string): string {
  return createHash('sha256').update(deployment).digest('hex').slice(0, 10);
}

export function matchLabelsOf(d: K8sObject): Record<string, string> {
  return (((d['spec'] as Json | undefined)?.['selector'] as Json | undefined)?.['matchLabels'] as Record<string, string> | undefined) ?? {};
}

export function selects(selector: Record<string, string>, pod: K8sObject): boolean {
  const labels = labelsOf(pod);
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The container port named `http`, else the first declared, else 8080. */
export function portOf(d: K8sObject): number {
  const template = (d['spec'] as Json)['template'] as Json | undefined;
  const containers = ((template?.['spec'] as Json | undefined)?.['containers'] as Json[] | undefined) ?? [];
  const ports = containers.flatMap((c) => (c['ports'] as Array<{ name?: string; containerPort: number }> | undefined) ?? []);
  return (ports.find((p) => p.name === 'http') ?? ports[0])?.containerPort ?? 8080;
}

export function isPodReady(pod: K8sObject): boolean {
  const conditions = ((pod['status'] as Json | undefined)?.['conditions'] as Array<{ type: string; status: string }> | undefined) ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

export function isTerminating(pod: K8sObject): boolean {
  return typeof pod.metadata['deletionTimestamp'] === 'string';
}

export function deletionCost(pod: K8sObject): number {
  const raw = (pod.metadata['annotations'] as Record<string, string> | undefined)?.[DELETION_COST_ANNOTATION];
  const cost = raw === undefined ? 0 : Number.parseInt(raw, 10);
  return Number.isNaN(cost) ? 0 : cost;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Sets a pod's Ready and ContainersReady conditions. */
export function setReadyConditions(pod: K8sObject, ready: boolean): void {
  const status = (pod['status'] as Json | undefined) ?? {};
  const value = ready ? 'True' : 'False';
  status['conditions'] = [
    { type: 'Initialized', status: 'True', lastTransitionTime: now() },
    { type: 'Ready', status: value, lastTransitionTime: now() },
    { type: 'ContainersReady', status: value, lastTransitionTime: now() },
    { type: 'PodScheduled', status: 'True', lastTransitionTime: now() },
  ];
  pod['status'] = status;
}

/** A new running pod of Deployment `d` with the given IP. */
export function newPod(d: K8sObject, ip: string, ready: boolean): K8sObject {
  const name = d.metadata.name;
  const hash = templateHash(name);
  const template = (d['spec'] as Json)['template'] as Json;
  const templateMeta = (template['metadata'] as Json | undefined) ?? {};
  const pod: K8sObject = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: `${name}-${hash}-${randomUUID().replaceAll('-', '').slice(0, 5)}`,
      namespace: d.metadata.namespace,
      labels: { ...((templateMeta['labels'] as Record<string, string> | undefined) ?? {}), 'pod-template-hash': hash },
      annotations: { ...((templateMeta['annotations'] as Record<string, string> | undefined) ?? {}) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-${hash}`, uid: String(d.metadata['uid']), controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...structuredClone((template['spec'] as Json | undefined) ?? {}), nodeName: 'fake-node' },
    status: { phase: 'Running', hostIP: '127.0.0.1', podIP: ip, podIPs: [{ ip }], startTime: now() },
  };
  setReadyConditions(pod, ready);
  return pod;
}

/** A running, ready pod that no controller owns (another workload of a shared namespace). */
export function barePod(name: string, namespace: string, labels: Record<string, string>, ip: string): K8sObject {
  const pod: K8sObject = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: { ...labels }, annotations: {} },
    spec: { containers: [{ name: 'main', image: 'registry.example.com/other:1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }], nodeName: 'fake-node' },
    status: { phase: 'Running', hostIP: '127.0.0.1', podIP: ip, podIPs: [{ ip }], startTime: now() },
  };
  setReadyConditions(pod, true);
  return pod;
}

/**
 * ReplicaSet scale-down order (pkg/controller ActivePods, the parts the fake models): not
 * ready before ready, then lower pod-deletion-cost, then newer first.
 */
export function deletionOrder(a: K8sObject, b: K8sObject): number {
  const ready = Number(isPodReady(a)) - Number(isPodReady(b));
  if (ready !== 0) return ready;
  const cost = deletionCost(a) - deletionCost(b);
  if (cost !== 0) return cost;
  const created = String(b.metadata['creationTimestamp']).localeCompare(String(a.metadata['creationTimestamp']));
  if (created !== 0) return created;
  // Same second: the later resourceVersion is the newer pod.
  return Number(b.metadata.resourceVersion) - Number(a.metadata.resourceVersion);
}

/** The labels that opt a Deployment in (`faas_function`, `alert-scaler.io/enabled`), where it has them. */
export function optInLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['faas_function', 'alert-scaler.io/enabled']) {
    const value = labels[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * The EndpointSlice of Service `<deployment name>`, one endpoint per pod (terminating ones
 * included), with the Service's labels copied, as the EndpointSlice controller does
 * (setEndpointSliceLabels: every Service label but the reserved ones).
 */
export function sliceFor(d: K8sObject, pods: readonly K8sObject[], serviceLabels: Record<string, string>): K8sObject {
  const name = d.metadata.name;
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: `${name}-${templateHash(`${name}/slice`).slice(0, 5)}`,
      namespace: d.metadata.namespace,
      labels: { ...serviceLabels, [SERVICE_NAME_LABEL]: name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: portOf(d), protocol: 'TCP' }],
    endpoints: pods.map((p) => {
      const terminating = isTerminating(p);
      const ready = isPodReady(p);
      return {
        addresses: [String((p['status'] as Json)['podIP'])],
        conditions: { ready: ready && !terminating, serving: ready, terminating },
        targetRef: { kind: 'Pod', namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata['uid'] },
        nodeName: 'fake-node',
      };
    }),
  };
}

/** Deployment status for `replicas` pods of which `ready` are ready. */
export function deploymentStatus(replicas: number, ready: number, generation: number): Json {
  return {
    observedGeneration: generation, replicas, updatedReplicas: replicas, readyReplicas: ready, availableReplicas: ready,
    ...(replicas - ready > 0 ? { unavailableReplicas: replicas - ready } : {}),
    conditions: [{ type: 'Available', status: ready >= replicas ? 'True' : 'False', reason: 'MinimumReplicasAvailable' }],
  };
}

/** Deployment status from its pods (terminating pods no longer count). */
export function statusFromPods(pods: readonly K8sObject[], generation: number): Json {
  const live = pods.filter((p) => !isTerminating(p));
  return deploymentStatus(live.length, live.filter(isPodReady).length, generation);
}
