import type { Logger } from '../log/logger.js';
import { decideBounds } from '../policy/bounds.js';
import { policyNameOf } from '../policy/named.js';
import type { NamedPolicyProvider, NamedPolicyReport } from './named-policies.js';
import { functionLabel, type FunctionRef } from '../providers/types.js';
import type { Engine } from './index.js';

export interface PolicyReloadOptions {
  readonly logger: Logger;
  readonly defaultNamespace: string;
  /** Whether this gateway changes the function's count (its owner); always when absent. Refusals are recorded either way. */
  readonly owns?: (ref: FunctionRef) => boolean;
  /** After an edit's bounds are applied: the function's scaler parses its labels again. */
  readonly edited?: (ref: FunctionRef) => Promise<void>;
}

/** What attachNamedPolicies returns. */
export interface PolicyReload {
  /** Brings every function that names a policy into its [min, max] now (at start-up). */
  applyAll(): Promise<void>;
  /** Stops acting on policy reports. */
  detach(): void;
}

/**
 * Acts on named policy reports: an applied edit runs one change cycle per function naming the
 * policy (source `policy`, decideBounds: min_workers 1 → 2 scales it to 2 at once, whatever
 * its kind; then the function's scaler parses its labels again and decides the rest); a refused edit is recorded in
 * the event log as `policy_invalid`, naming the policy, the keys at fault and the problems.
 */
export function attachNamedPolicies(named: NamedPolicyProvider, engine: Engine, options: PolicyReloadOptions): PolicyReload {
  const log = options.logger.child({ component: 'named-policies' });
  const owns = (ref: FunctionRef): boolean => options.owns?.(ref) ?? true;
  const bound = (ref: FunctionRef, policy: string): Promise<void> => engine.changer.change(ref, 'policy', decideBounds).then(
    () => options.edited?.(ref),
    (err: unknown) => {
      log.warn('named policy not applied', { function: functionLabel(ref, options.defaultNamespace), policy, error: err instanceof Error ? err.message : String(err) });
    },
  );
  const onReport = (report: NamedPolicyReport): void => {
    if (report.kind === 'changed') {
      if (owns(report.ref)) void bound(report.ref, report.policy);
      return;
    }
    engine.events.record({
      time: engine.clock.now(),
      function: functionLabel(report.ref, options.defaultNamespace),
      source: 'policy',
      action: 'policy_invalid',
      from: report.desired,
      to: report.desired,
      reason: report.kept ? 'kept-last-good' : 'own-labels-apply',
      inputs: { policy: report.policy, keys: report.keys, problems: report.problems },
    });
  };
  const detach = named.onReport(onReport);
  return {
    async applyAll() {
      const functions = await named.listFunctions();
      await Promise.all(functions.flatMap((fn) => {
        const policy = policyNameOf(fn.labels, fn.annotations);
        return policy === undefined || !owns(fn.ref) ? [] : [bound(fn.ref, policy)];
      }));
    },
    detach,
  };
}
