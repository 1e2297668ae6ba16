import { openApiResponse } from './openapi.js';
import { TYPES, type Json } from './wire.js';

/**
 * The discovery documents kubectl reads (legacy, one per group version: the fake answers plain
 * application/json, so kubectl does not use aggregated discovery), plus /version, health and
 * the minimal OpenAPI v3 of openapi.ts.
 * Returns null for any other path.
 */
export function discoveryResponse(path: string, host: string): { code: number; body: unknown; text?: boolean } | null {
  const groups = [...new Set(TYPES.filter((t) => t.group !== '').map((t) => t.group))];
  const groupVersion = (g: string): Json => {
    const v = TYPES.find((t) => t.group === g)?.version ?? 'v1';
    return { groupVersion: `${g}/${v}`, version: v };
  };
  if (path === '/version') {
    return { code: 200, body: {
      major: '1', minor: '32', gitVersion: 'v1.32.0-fake', gitCommit: '0000000000000000000000000000000000000000',
      gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.23.0', compiler: 'gc', platform: 'linux/amd64',
    } };
  }
  if (path === '/api') {
    return { code: 200, body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] } };
  }
  if (path === '/apis') {
    return { code: 200, body: {
      kind: 'APIGroupList', apiVersion: 'v1',
      groups: groups.map((name) => ({ name, versions: [groupVersion(name)], preferredVersion: groupVersion(name) })),
    } };
  }
  const openApi = openApiResponse(path);
  if (openApi !== null) return openApi;
  if (path === '/healthz' || path === '/readyz' || path === '/livez') return { code: 200, body: 'ok', text: true };
  const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/?$/.exec(path);
  if (m !== null) {
    const group = m[2] ?? '';
    const version = m[1] ?? m[3] ?? '';
    const types = TYPES.filter((t) => t.group === group && t.version === version);
    if (types.length > 0) {
      const resources: Json[] = [];
      for (const t of types) {
        resources.push({
          name: t.resource, singularName: t.singular, namespaced: t.namespaced !== false, kind: t.kind, verbs: t.verbs,
          ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
          ...(t.categories === undefined ? {} : { categories: t.categories }),
        });
        if (t.resource === 'deployments') {
          resources.push({ name: 'deployments/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
          resources.push({ name: 'deployments/status', singularName: '', namespaced: true, kind: 'Deployment', verbs: ['get', 'patch', 'update'] });
        }
      }
      return { code: 200, body: { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources } };
    }
  }
  return null;
}
