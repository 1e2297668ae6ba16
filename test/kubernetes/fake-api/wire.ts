/** Wire-format pieces of the fake API server: resource table, Status objects, patches, selectors, paths. */

export type Json = Record<string, unknown>;
export type K8sObject = Json & { metadata: Json & { name: string; namespace?: string | undefined; resourceVersion?: string | undefined } };

/** One kind of resource the fake serves. */
export interface ResourceType {
  readonly group: string; // '' for core
  readonly version: string;
  readonly resource: string;
  readonly kind: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly verbs: readonly string[];
  readonly categories?: readonly string[];
  /** Cluster-scoped when false (namespaces). */
  readonly namespaced?: false;
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

export const TYPES: readonly ResourceType[] = [
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', singular: 'deployment', shortNames: ['deploy'], verbs: ALL_VERBS, categories: ['all'] },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', singular: 'configmap', shortNames: ['cm'], verbs: ALL_VERBS },
  { group: '', version: 'v1', resource: 'events', kind: 'Event', singular: 'event', shortNames: ['ev'], verbs: ALL_VERBS },
  { group: 'events.k8s.io', version: 'v1', resource: 'events', kind: 'Event', singular: 'event', shortNames: ['ev'], verbs: ALL_VERBS },
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', singular: 'pod', shortNames: ['po'], verbs: ALL_VERBS, categories: ['all'] },
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', singular: 'endpointslice', shortNames: [], verbs: ALL_VERBS },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', singular: 'lease', shortNames: [], verbs: ALL_VERBS },
  // kubectl looks up the namespace after a namespaced 404 to word its error.
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', singular: 'namespace', shortNames: ['ns'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], namespaced: false },
];

export function typeKey(t: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${t.group}/${t.resource}`;
}
export function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

export const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  409: 'Conflict', 410: 'Expired', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests',
  500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

/** A `kind: Status` failure object as the apiserver writes it. */
export function statusObject(code: number, message: string, details?: Json): Json {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message,
    reason: REASONS[code] ?? 'Unknown', ...(details === undefined ? {} : { details }), code,
  };
}

export class HttpError extends Error {
  constructor(readonly code: number, message: string, readonly details?: Json) {
    super(message);
  }
}

export const clone = <T>(v: T): T => structuredClone(v);

/** RFC 7386 JSON merge patch; strategic merge patch is the same for the maps and scalars we serve. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Json = target !== null && typeof target === 'object' && !Array.isArray(target) ? clone(target as Json) : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (k.startsWith('$')) continue; // strategic-merge directives
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function labelsOf(o: K8sObject): Record<string, string> {
  return (o.metadata['labels'] as Record<string, string> | undefined) ?? {};
}

/** Label selector subset: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated (ANDed). */
export function parseLabelSelector(sel: string | undefined): (o: K8sObject) => boolean {
  if (sel === undefined || sel === '') return () => true;
  const terms = sel.split(',').map((t) => t.trim()).filter((t) => t !== '');
  return (o) => {
    const labels = labelsOf(o);
    return terms.every((t) => {
      const ne = t.indexOf('!=');
      if (ne > 0) return labels[t.slice(0, ne)] !== t.slice(ne + 2);
      const eq = t.indexOf('=');
      if (eq > 0) return labels[t.slice(0, eq)] === t.slice(t[eq + 1] === '=' ? eq + 2 : eq + 1);
      if (t.startsWith('!')) return labels[t.slice(1)] === undefined;
      return labels[t] !== undefined;
    });
  };
}

export function parseFieldSelector(sel: string | undefined): (o: K8sObject) => boolean {
  if (sel === undefined || sel === '') return () => true;
  const terms = sel.split(',').map((t) => t.split('='));
  return (o) => terms.every(([k, v]) => {
    if (k === 'metadata.name') return o.metadata.name === v;
    if (k === 'metadata.namespace') return o.metadata.namespace === v;
    return true;
  });
}

export function formatSelector(matchLabels: Record<string, string> | undefined): string {
  return Object.entries(matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}

export interface ParsedPath {
  readonly type: ResourceType;
  readonly namespace: string | null;
  readonly name: string | null;
  readonly subresource: string | null;
}

export function parsePath(path: string): ParsedPath | null {
  const parts = path.split('/').filter((p) => p !== '');
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else return null;
  let namespace: string | null = null;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1] ?? null;
    rest = rest.slice(2);
  }
  const type = TYPES.find((t) => t.group === group && t.resource === rest[0] && (group === '' || path.split('/')[3] === t.version));
  if (type === undefined || rest.length > 3) return null;
  return { type, namespace, name: rest[1] ?? null, subresource: rest[2] ?? null };
}

export function rbacVerb(method: string, p: ParsedPath, watch: boolean): string {
  switch (method) {
    case 'GET': return watch ? 'watch' : p.name === null ? 'list' : 'get';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return p.name === null ? 'deletecollection' : 'delete';
    default: return method.toLowerCase();
  }
}
