import { Router, type Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { parseFunctionRef, type FunctionInfo, type FunctionRef } from '../providers/types.js';
import type { Scaler } from '../scaling/scaler.js';

const scaleBody = z.strictObject({
  serviceName: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  replicas: z.number().int().min(0).max(10_000),
});

async function invocationCounts(metrics: Metrics): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const value of (await metrics.invocationTotal.get()).values) {
    const fn = String(value.labels['function_name']);
    counts.set(fn, (counts.get(fn) ?? 0) + value.value);
  }
  return counts;
}

/** The OpenFaaS-compatible system API: list, get and scale functions. */
export function systemRouter(deps: { scaler: Scaler; metrics: Metrics; defaultNamespace: string }): Router {
  const { scaler, metrics } = deps;
  const router = Router();

  const describe = (info: FunctionInfo, counts: Map<string, number>) => ({
    name: info.ref.name,
    namespace: info.ref.namespace,
    replicas: info.desired,
    availableReplicas: info.ready,
    invocationCount: counts.get(scaler.label(info.ref)) ?? 0,
    labels: info.labels,
    annotations: info.annotations,
  });

  const refFrom = (req: Request): FunctionRef => {
    const namespace = typeof req.query['namespace'] === 'string' ? req.query['namespace'] : undefined;
    const ref = parseFunctionRef(String(req.params['name']), deps.defaultNamespace);
    return namespace === undefined ? ref : { name: ref.name, namespace };
  };

  router.get('/functions', async (_req, res) => {
    const counts = await invocationCounts(metrics);
    const functions = await scaler.provider.listFunctions();
    res.json(functions.map((info) => describe(info, counts)));
  });

  router.get('/function/:name', async (req, res) => {
    const ref = refFrom(req);
    const state = await scaler.provider.getReplicas(ref);
    res.json(describe({ ref, ...state }, await invocationCounts(metrics)));
  });

  router.post('/scale-function/:name', async (req, res) => {
    const parsed = scaleBody.safeParse(req.body);
    if (!parsed.success) {
      throw new AppError('BAD_REQUEST', 'body must be {"serviceName": string, "replicas": integer >= 0}', {
        details: { problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) },
      });
    }
    const ref = refFrom(req);
    if (parsed.data.serviceName !== undefined && parseFunctionRef(parsed.data.serviceName, ref.namespace).name !== ref.name) {
      throw new AppError('BAD_REQUEST', `serviceName ${parsed.data.serviceName} does not match the path (${ref.name})`);
    }
    const requested = parsed.data.replicas;
    const result = await scaler.locked(ref, async () => {
      const state = await scaler.provider.getReplicas(ref);
      const policy = scaler.policyOf(state);
      if (!policy.ok) {
        throw new AppError('LABELS_INVALID', `function ${ref.name} has invalid scale labels`, { details: { problems: policy.problems } });
      }
      const clamped = requested > policy.policy.maxReplicas;
      const replicas = clamped ? policy.policy.maxReplicas : requested;
      return scaler.apply(ref, state.desired, { replicas, reason: clamped ? 'capped-at-max' : 'manual' }, 'manual');
    });
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
