import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { Changer } from '../engine/changer.js';
import type { Dispatcher } from '../engine/dispatcher.js';
import { functionDetail, functionSummary } from '../api/status.js';
import type { SpecDefaults } from '../policy/spec.js';
import { decideManual } from '../policy/manual.js';
import { functionLabel, parseFunctionRef, type FunctionInfo, type FunctionRef, type ReplicaProvider } from '../providers/types.js';

// Any non-negative safe integer: above the function's max is clamped, not refused.
const scaleBody = z.strictObject({
  serviceName: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  replicas: z.number().int().min(0),
});

/** Where a request named a namespace: `path` (`name.ns`), `query`, `body`, `serviceName`. */
type NamespaceSource = readonly [where: string, namespace: string | undefined];

/**
 * The one namespace a request names, or `fallback` when it names none. Two places that name
 * different namespaces are a 400 that names both: never one silently preferred.
 */
export function agreedNamespace(sources: readonly NamespaceSource[], fallback: string): string {
  let agreed: readonly [string, string] | undefined;
  for (const [where, namespace] of sources) {
    if (namespace === undefined) continue;
    if (agreed !== undefined && agreed[1] !== namespace) {
      throw new AppError('BAD_REQUEST', `namespace conflict: ${agreed[0]} says ${agreed[1]}, ${where} says ${namespace}`, {
        details: { namespaces: { [agreed[0]]: agreed[1], [where]: namespace } },
      });
    }
    agreed ??= [where, namespace];
  }
  return agreed?.[1] ?? fallback;
}

/** The namespace of `name.namespace`, undefined for a bare name. */
function namespaceIn(value: string): string | undefined {
  const dot = value.indexOf('.');
  return dot === -1 ? undefined : value.slice(dot + 1);
}

function queryNamespace(req: Request): string | undefined {
  const value = req.query['namespace'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new AppError('BAD_REQUEST', 'query parameter namespace must be one non-empty string');
  return value;
}

async function invocationCounts(metrics: Metrics): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const value of (await metrics.invocationTotal.get()).values) {
    const fn = String(value.labels['function_name']);
    counts.set(fn, (counts.get(fn) ?? 0) + value.value);
  }
  return counts;
}

/**
 * The OpenFaaS-compatible system API: list, get and scale functions. A scale goes through
 * the change cycle (source `api`, decision: src/policy/manual.ts); a scale-down drains the
 * replicas it removes after the 202 answer. Besides the OpenFaaS fields, the list gives each
 * function's replica counts by state and queue length, and one function also its queue, its
 * replicas and its policy (src/api/status.ts).
 */
export function systemRouter(deps: {
  provider: ReplicaProvider;
  changer: Changer;
  metrics: Metrics;
  /** The engine's replica table and queues. */
  dispatcher: Pick<Dispatcher, 'replicas' | 'stats' | 'waiting'>;
  /** Min, max and the ceiling `max=0` stands for, for the policy a function reports. */
  specDefaults: SpecDefaults;
  defaultNamespace: string;
  /** Namespaces the provider is configured to manage (Kubernetes); listed even when empty. */
  namespaces?: readonly string[] | undefined;
}): Router {
  const { provider, changer, metrics } = deps;
  const router = Router();
  const status = { dispatcher: deps.dispatcher, provider, specDefaults: deps.specDefaults };

  const describe = (info: FunctionInfo, counts: Map<string, number>) => ({
    name: info.ref.name,
    namespace: info.ref.namespace,
    replicas: info.desired,
    availableReplicas: info.ready,
    invocationCount: counts.get(functionLabel(info.ref, deps.defaultNamespace)) ?? 0,
    labels: info.labels,
    annotations: info.annotations,
  });

  /** The function a request names: path `name[.namespace]`, `?namespace=`, and the scale body. */
  const refFrom = (req: Request, body: { serviceName?: string | undefined; namespace?: string | undefined } = {}): FunctionRef => {
    const path = String(req.params['name']);
    const { name } = parseFunctionRef(path, deps.defaultNamespace);
    if (body.serviceName !== undefined && parseFunctionRef(body.serviceName, deps.defaultNamespace).name !== name) {
      throw new AppError('BAD_REQUEST', `serviceName ${body.serviceName} does not match the path (${name})`);
    }
    const namespace = agreedNamespace(
      [
        ['the path', namespaceIn(path)],
        ['?namespace', queryNamespace(req)],
        ['the body namespace', body.namespace],
        ['the body serviceName', body.serviceName === undefined ? undefined : namespaceIn(body.serviceName)],
      ],
      deps.defaultNamespace,
    );
    return { name, namespace };
  };

  // As in OpenFaaS: ?namespace= lists that namespace only; one this gateway does not manage
  // (no function in it, not the default) is a 400, not an empty list.
  router.get('/functions', async (req, res) => {
    const namespace = queryNamespace(req);
    const counts = await invocationCounts(metrics);
    const functions = await provider.listFunctions();
    if (namespace === undefined) {
      res.json(functions.map((info) => ({ ...describe(info, counts), ...functionSummary(status, info.ref) })));
      return;
    }
    const managed = new Set([deps.defaultNamespace, ...(deps.namespaces ?? []), ...functions.map((info) => info.ref.namespace)]);
    if (!managed.has(namespace)) {
      throw new AppError('BAD_REQUEST', `namespace ${namespace} is not managed by this gateway`, { details: { namespaces: [...managed].sort() } });
    }
    res.json(functions.filter((info) => info.ref.namespace === namespace).map((info) => ({ ...describe(info, counts), ...functionSummary(status, info.ref) })));
  });

  router.get('/function/:name', async (req, res) => {
    const ref = refFrom(req);
    const state = await provider.getReplicas(ref);
    res.json({ ...describe({ ref, ...state }, await invocationCounts(metrics)), ...functionDetail(status, ref, state) });
  });

  router.post('/scale-function/:name', async (req, res) => {
    const parsed = scaleBody.safeParse(req.body);
    if (!parsed.success) {
      throw new AppError('BAD_REQUEST', 'body must be {"serviceName": string, "namespace"?: string, "replicas": integer >= 0}', {
        details: { problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) },
      });
    }
    const ref = refFrom(req, parsed.data);
    const requested = parsed.data.replicas;
    const result = await changer.change(ref, 'api', ({ policy }) => decideManual({ requested, policy }));
    res.status(202).json({
      function: ref.name,
      namespace: ref.namespace,
      requested,
      from: result.from,
      replicas: result.to,
      clamped: result.to !== requested,
      reason: result.reason,
    });
  });

  return router;
}
