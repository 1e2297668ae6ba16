import { AppError } from '../../errors.js';

/** What a request tried to do, in RBAC words: `update deployments/scale in namespace x`. */
export interface KubeAction {
  readonly verb: string;
  readonly resource: string;
  readonly namespace: string;
  readonly name?: string;
}

function describe(action: KubeAction): string {
  return `${action.verb} ${action.resource} in namespace ${action.namespace}`;
}

function httpStatus(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  // ApiException carries `code`; a failed watch carries `statusCode`.
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

/** The `message` of a Kubernetes Status body, when the error has one. */
function statusMessage(err: unknown): string | undefined {
  let body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      return undefined;
    }
  }
  const message = (body as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/**
 * Translates an error from the Kubernetes API into an AppError, keeping it as `cause`:
 * 404 → FUNCTION_UNKNOWN, 401/403 → PROVIDER_FORBIDDEN (naming the missing permission),
 * 409 → PROVIDER_CONFLICT, 429/5xx/timeouts/connection errors → PROVIDER_UNAVAILABLE,
 * any other 4xx → PROVIDER_FAILED.
 */
export function translateKubeError(err: unknown, action: KubeAction): AppError {
  if (err instanceof AppError) return err;
  const status = httpStatus(err);
  const target = action.name === undefined ? action.resource : `${action.resource.split('/')[0] ?? action.resource} ${action.namespace}/${action.name}`;
  const details = { status: status ?? null, verb: action.verb, resource: action.resource, namespace: action.namespace };
  const server = statusMessage(err);
  const suffix = server === undefined ? '' : `: ${server}`;
  if (status === 404) return new AppError('FUNCTION_UNKNOWN', `${target} not found`, { cause: err, details });
  if (status === 401) {
    return new AppError('PROVIDER_FORBIDDEN', `the Kubernetes API rejected the credentials (401) for ${describe(action)}`, { cause: err, details });
  }
  if (status === 403) {
    return new AppError('PROVIDER_FORBIDDEN', `RBAC does not allow ${describe(action)}${suffix}`, { cause: err, details });
  }
  if (status === 409) return new AppError('PROVIDER_CONFLICT', `${target} changed concurrently (${action.verb} ${action.resource})${suffix}`, { cause: err, details });
  if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
    return new AppError('PROVIDER_FAILED', `Kubernetes API refused ${describe(action)} (${status})${suffix}`, { cause: err, details });
  }
  const why = status === undefined ? (err instanceof Error ? err.message : String(err)) : `HTTP ${status}`;
  return new AppError('PROVIDER_UNAVAILABLE', `Kubernetes API unavailable for ${describe(action)}: ${why}`, { cause: err, details });
}
