import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { Changer } from '../engine/changer.js';
import type { Dispatcher } from '../engine/dispatcher.js';
import type { SpecDefaults } from '../policy/spec.js';
import { decideManual } from '../policy/manual.js';
import type { Ownership } from '../providers/setup.js';
import { functionLabel, type FunctionInfo, type FunctionRef, type ReplicaProvider } from '../providers/types.js';
import { functionDetail, functionSummary, type StatusSource } from './status.js';
import { queryNamespace, refFrom } from './system-ref.js';

export { agreedNamespace } from './system-ref.js';

// Any non-negative safe integer: above the function's max is clamped, not refused.
const scaleBody = z.strictObject({
  serviceName: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  replicas: z.number().int().min(0),
});

/** What the system API reads and changes. */
export interface SystemDeps {
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
  /** Which gateway decides for each function (Kubernetes: bucket Leases); this one alone when absent. */
  ownership?: Pick<Ownership, 'self' | 'ownerOf'> | undefined;
  /** A function's stored async calls (`asyncQueueLength`); absent when async invocations are off. */
  asyncBacklog?: ((ref: FunctionRef) => number) | undefined;
}

/**
 * The OpenFaaS-compatible system API: list, get and scale functions. A scale goes through
 * the change cycle (source `api`, decision: src/policy/manual.ts); a scale-down drains the
 * replicas it removes after the 202 answer. Besides the OpenFaaS fields, the list gives each
 * function's replica counts by state and queue length, and one function also its queue, its
 * replicas and its policy (src/api/status.ts).
 */
export function systemRouter(deps: SystemDeps): Router {
  const api = new SystemApi(deps);
  const router = Router();
  router.get('/functions', (req, res) => api.list(req, res));
  router.get('/function/:name', (req, res) => api.get(req, res));
  router.post('/scale-function/:name', (req, res) => api.scale(req, res));
  return router;
}

/** The system API's handlers, one per route. */
class SystemApi {
  private readonly status: StatusSource;

  constructor(private readonly deps: SystemDeps) {
    this.status = { dispatcher: deps.dispatcher, provider: deps.provider, specDefaults: deps.specDefaults, asyncBacklog: deps.asyncBacklog };
  }

  /**
   * `GET /functions`. As in OpenFaaS: ?namespace= lists that namespace only; one this gateway
   * does not manage (no function in it, not the default) is a 400, not an empty list.
   */
  async list(req: Request, res: Response): Promise<void> {
    const { deps } = this;
    const namespace = queryNamespace(req);
    const functions = await deps.provider.listFunctions();
    if (namespace === undefined) {
      res.json(functions.map((info) => ({ ...this.describe(info), ...functionSummary(this.status, info.ref, info) })));
      return;
    }
    const managed = new Set([deps.defaultNamespace, ...(deps.namespaces ?? []), ...functions.map((info) => info.ref.namespace)]);
    if (!managed.has(namespace)) {
      throw new AppError('BAD_REQUEST', `namespace ${namespace} is not managed by this gateway`, { details: { namespaces: [...managed].sort() } });
    }
    res.json(functions.filter((info) => info.ref.namespace === namespace).map((info) => ({ ...this.describe(info), ...functionSummary(this.status, info.ref, info) })));
  }

  /** `GET /function/:name`: the OpenFaaS fields plus the function's detail and its owner. */
  async get(req: Request, res: Response): Promise<void> {
    const ref = refFrom(req, this.deps.defaultNamespace);
    const state = await this.deps.provider.getReplicas(ref);
    res.json({ ...this.describe({ ref, ...state }), ...functionDetail(this.status, ref, state), ...this.ownerOf(ref) });
  }

  /**
   * `owner`: the identity of the gateway whose scaler decides for the function (null while
   * its bucket is between owners, or with a single gateway); `ownedHere`: whether it is this one.
   */
  private ownerOf(ref: FunctionRef): { owner: string | null; ownedHere: boolean } {
    const { ownership } = this.deps;
    if (ownership === undefined) return { owner: null, ownedHere: true };
    const owner = ownership.ownerOf(ref);
    return { owner, ownedHere: owner === ownership.self };
  }

  /** `POST /scale-function/:name`: a manual scale through the change cycle, 202 with the result. */
  async scale(req: Request, res: Response): Promise<void> {
    const parsed = scaleBody.safeParse(req.body);
    if (!parsed.success) {
      throw new AppError('BAD_REQUEST', 'body must be {"serviceName": string, "namespace"?: string, "replicas": integer >= 0}', {
        details: { problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) },
      });
    }
    const ref = refFrom(req, this.deps.defaultNamespace, parsed.data);
    const requested = parsed.data.replicas;
    const result = await this.deps.changer.change(ref, 'api', ({ policy }) => decideManual({ requested, policy }));
    res.status(202).json({
      function: ref.name,
      namespace: ref.namespace,
      requested,
      from: result.from,
      replicas: result.to,
      clamped: result.to !== requested,
      reason: result.reason,
    });
  }

  /** A function's OpenFaaS fields. */
  private describe(info: FunctionInfo): Record<string, unknown> {
    return {
      name: info.ref.name,
      namespace: info.ref.namespace,
      replicas: info.desired,
      availableReplicas: info.ready,
      invocationCount: this.deps.metrics.callTotals.calls(functionLabel(info.ref, this.deps.defaultNamespace)),
      labels: info.labels,
      annotations: info.annotations,
    };
  }
}
