/**
 * The smallest OpenAPI v3 the fake serves so kubectl's default `--validate=strict` works for
 * `kubectl apply` and `kubectl edit`: kubectl asks /openapi/v3 for each group version's
 * document and looks for a PATCH operation of the kind (extension
 * x-kubernetes-group-version-kind) that takes the `fieldValidation` query parameter. When it
 * finds one it leaves validation to the server (the fake accepts what it stores); without
 * any OpenAPI it refuses to send ("failed to download openapi"). No schemas are served, so
 * kubectl builds its patches from its compiled-in types, as it does for any built-in kind.
 */
import { TYPES, apiVersionOf, type Json } from './wire.js';

/** The document path of a group version: `api/v1`, `apis/apps/v1`. */
function docPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

/** /openapi/v3 (the index) or /openapi/v3/<group version>; null for any other path. */
export function openApiResponse(path: string): { code: number; body: Json } | null {
  if (path === '/openapi/v3') {
    const paths: Json = {};
    for (const t of TYPES) paths[docPath(t.group, t.version)] = { serverRelativeURL: `/openapi/v3/${docPath(t.group, t.version)}?hash=fake` };
    return { code: 200, body: { paths } };
  }
  const m = /^\/openapi\/v3\/(.+)$/.exec(path);
  if (m === null) return null;
  const types = TYPES.filter((t) => docPath(t.group, t.version) === m[1] && t.verbs.includes('patch'));
  if (types.length === 0) return null;
  const paths: Json = {};
  for (const t of types) {
    const prefix = `/${apiVersionOf(t) === 'v1' ? 'api/v1' : `apis/${apiVersionOf(t)}`}`;
    const item = `${prefix}${t.namespaced === false ? '' : '/namespaces/{namespace}'}/${t.resource}/{name}`;
    paths[item] = {
      patch: {
        operationId: `patch${t.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return { code: 200, body: { openapi: '3.0.0', info: { title: 'Kubernetes (fake)', version: 'v1.32.0' }, paths } };
}
