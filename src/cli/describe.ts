import { functionStatus, type CrashLoopView, type FunctionStatus, type LastCrashView, type PolicyView } from '../api/status.js';
import { expectPositionals } from './args.js';
import { fnPath, type Command, type FunctionBody } from './context.js';
import { json } from './table.js';

/** `k=v, k=v` (sorted by key when `sorted`); `-` for none. */
function pairs(record: Readonly<Record<string, string | number>> | undefined, sorted = true): string {
  const entries = Object.entries(record ?? {});
  if (sorted) entries.sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** `rps (min_replicas=1, max_replicas=20)`, or the label problems. */
export function policyText(policy: PolicyView): string {
  if (policy.type === null) return `invalid labels: ${policy.problems.join('; ')}`;
  return `${policy.type} (${pairs(policy.settings, false)})`;
}

/**
 * `crash-loop: 4 crashes, next retry 2026-01-02T03:04:05.000Z; last: replica exited with code 3: boom`;
 * `-` when the function is not crash-looping. Pure.
 */
export function crashLoopText(loop: CrashLoopView | null | undefined, desired: number): string {
  if (loop === null || loop === undefined) return '-';
  const retry = loop.nextRetryAt !== null ? `next retry ${loop.nextRetryAt}` : desired > 0 ? 'retrying now' : 'no retry (0 replicas wanted)';
  return `${loop.state}: ${loop.crashes} crash${loop.crashes === 1 ? '' : 'es'}, ${retry}; last: ${loop.lastError}`;
}

/** The Status line of each function status (faas-cli's Ready / Not Ready, plus ours). */
export const STATUS_TEXT: Readonly<Record<FunctionStatus, string>> = { ready: 'Ready', 'crash-loop': 'Crash Loop', 'scaled-to-zero': 'Scaled to zero', 'not-ready': 'Not Ready' };

/** `2026-01-02T03:04:05.000Z echo-2: replica exited with code 3: boom`. Pure. */
export function lastCrashText(crash: LastCrashView): string {
  return `${crash.at} ${crash.replica}: ${crash.error}`;
}

/**
 * The faas-cli describe fields plus policy (and its warnings), replicas by state and queue,
 * the crash loop while there is one and else the last crash, as `Field: value` lines. Pure.
 */
export function formatDescribe(fn: FunctionBody, url: string): string {
  const s = fn.states;
  const status = fn.status ?? functionStatus(fn.replicas, fn.availableReplicas ?? 0, fn.crashLoop !== null && fn.crashLoop !== undefined);
  const lines: Array<[string, string]> = [
    ['Name', fn.name],
    ['Namespace', fn.namespace ?? '-'],
    ['Status', STATUS_TEXT[status]],
    ['Replicas', String(fn.replicas)],
    ['Available Replicas', String(fn.availableReplicas ?? 0)],
    ['Invocations', String(fn.invocationCount)],
    ['URL', url],
    ['Labels', pairs(fn.labels)],
    ['Annotations', pairs(fn.annotations)],
    ['Policy', policyText(fn.policy)],
    ...(fn.policy.type === null ? [] : (fn.policy.warnings ?? [])).map((w): [string, string] => ['Warning', w]),
    ['Replica States', `starting ${s.starting}, free ${s.free}, busy ${s.busy}, draining ${s.draining}, stopping ${s.stopping}`],
    ['Queue', `${fn.queueLength} (NoReplica ${fn.queue.noReplica}, WorkerBusy ${fn.queue.busy}, oldest wait ${fn.queue.oldestWaitMs} ms)`],
  ];
  // Only while it is one: a healthy function's describe stays as it was.
  if (fn.crashLoop) lines.splice(lines.length - 1, 0, ['Crash Loop', crashLoopText(fn.crashLoop, fn.replicas)]);
  else if (fn.lastCrash) lines.splice(lines.length - 1, 0, ['Last Error', lastCrashText(fn.lastCrash)]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 3;
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');
}

/** `alert-scaler describe <fn>`: one function's fields, policy and queue. */
export const describe: Command = async ({ args, client, out }) => {
  const [name = ''] = expectPositionals(args, ['fn']);
  const fn = await client.json<FunctionBody>('GET', `/system/function/${fnPath(name)}`);
  if (args.output === 'json') out(json(fn));
  else out(`${formatDescribe(fn, client.url(`/function/${fnPath(name)}`))}\n`);
  return 0;
};
