import type { PolicySpec } from './spec.js';

/**
 * Settings under which a kind's signal cannot move, so the kind never adds a replica (the
 * labels parse, but the function would not scale): one sentence each, naming the label to
 * change. Empty when none. Pure.
 */
export function policyWarnings(spec: PolicySpec): string[] {
  const warnings: string[] = [];
  if (spec.kind === 'queue' && spec.concurrency === 0) {
    warnings.push('queue with concurrency 0 (unlimited): one replica takes every call, none waits busy and max-queue is never passed, so it never scales up; set com.openfaas.scale.concurrency (1: one call per replica, the default)');
  }
  if (spec.kind === 'free-workers' && spec.minFreeWorkers === 0) {
    warnings.push('free-workers with min-free 0: fewer than 0 free replicas never happens, so it never scales up; set com.openfaas.scale.min-free (1 by default)');
  }
  return warnings;
}
