import { basename } from 'node:path';
import { parseDurationMs } from '../policy/duration.js';
import { parsePolicySpec, type SpecDefaults } from '../policy/spec.js';
import type { AlertingModel } from './alerting.js';
import { meanOf } from './distribution.js';
import type { FunctionResult, RunResult } from './run.js';
import type { SimStack } from './stack.js';

/** Why a function's reaction is "-" (no alert scale-up followed an overload). */
function reactionReason(f: FunctionResult, model: AlertingModel): string {
  if (!f.onAlertPath) return 'the alert path watches alert-driven (rps) functions only; this kind scales inside the gateway';
  if (!f.overloaded) return `its calls never passed the rule's threshold (${model.threshold} calls/s over a 10 s window)`;
  if (f.alertsFired === 0) {
    return model.counts === 'completed'
      ? `no alert fired: completed calls never exceeded the threshold (${model.threshold}/s); this rule counts answered 200s, and a saturated function completes no more than it can`
      : `no alert fired: calls started did not stay above ${model.threshold}/s through the rule's window and \`for\`, and no call waited at every scrape of the window`;
  }
  return `${f.alertsFired} alert(s) fired but none added a replica (already at its max of ${f.peakReplicas}, or its factor is 0)`;
}

/**
 * One line per "-" in a function's row, saying why it is there: the reaction (no alert
 * scale-up after an overload) and the wait and latency percentiles (no call to measure).
 */
export function explainDashes(result: RunResult, model: AlertingModel, withStack: boolean): string[] {
  const lines: string[] = [];
  for (const f of result.functions) {
    const who = withStack ? `${f.name} (${basename(result.stack)})` : f.name;
    if (f.reactionMs === null) lines.push(`${who} reaction "-": ${reactionReason(f, model)}`);
    const failed = `${f.refused} refused, ${f.timedOut} timed out`;
    if (f.waitMs.p50 === null) lines.push(`${who} wait "-": no call got a replica slot (${failed})`);
    if (f.latencyMs.p50 === null) lines.push(`${who} latency "-": no call was answered (${failed})`);
  }
  return lines;
}

/**
 * Functions on a rule that counts completed calls whose replicas at their minimum cannot
 * complete more than the threshold: however many calls wait, that alert never fires.
 */
export function capacityWarnings(stack: SimStack, defaults: SpecDefaults): string[] {
  const model = stack.alerting;
  if (model.counts !== 'completed') return [];
  const lines: string[] = [];
  for (const fn of stack.functions) {
    const spec = parsePolicySpec(fn.labels, fn.annotations, defaults);
    if (!spec.ok || spec.spec.kind !== 'rps' || spec.spec.concurrency <= 0) continue;
    const replicas = Math.max(1, spec.spec.minReplicas);
    const serviceMs = meanOf(fn.service);
    const capacity = serviceMs <= 0 ? Number.POSITIVE_INFINITY : (replicas * spec.spec.concurrency * 1000) / serviceMs;
    if (capacity > model.threshold) continue;
    const perSecond = Math.round(capacity * 10) / 10;
    lines.push(
      `warning: ${fn.name}: ${replicas} replica(s) complete at most ${perSecond} calls/s (concurrency ${spec.spec.concurrency}, mean service ${Math.round(serviceMs)} ms), not above the ${model.name} rule's threshold of ${model.threshold} completed calls/s: its alert can never fire however many calls wait (the shipped rule counts calls started)`,
    );
  }
  return lines;
}

/** A latency objective: `pNN=DURATION` (p50, p95 or p99). */
export interface Slo {
  readonly percentile: 'p50' | 'p95' | 'p99';
  readonly maxMs: number;
  /** As given, for the output. */
  readonly text: string;
}

/** Reads `p95=500ms`; null when it is not of that form. */
export function parseSlo(text: string): Slo | null {
  const match = /^(p50|p95|p99)=(.+)$/.exec(text.trim());
  const ms = match === null ? null : parseDurationMs(match[2] ?? '');
  if (match === null || ms === null || ms <= 0) return null;
  return { percentile: match[1] as Slo['percentile'], maxMs: ms, text: `latency ${match[1] ?? ''} <= ${match[2] ?? ''}` };
}

const oneDecimal = (v: number) => v.toFixed(1);

/**
 * Per function, the cheapest run (fewest replica-seconds) whose latency percentile meets the
 * objective with no failed call (refused or timed out), and by how much it is cheaper than
 * each other run; `met` is false when some function has no run that meets it.
 */
export function sloVerdict(results: readonly RunResult[], slo: Slo): { lines: string[]; met: boolean } {
  const lines: string[] = [];
  let met = true;
  const names = results[0]?.functions.map((f) => f.name) ?? [];
  for (const name of names) {
    const runs = results.flatMap((r) => {
      const f = r.functions.find((g) => g.name === name);
      return f === undefined ? [] : [{ stack: basename(r.stack), f, value: f.latencyMs[slo.percentile] }];
    });
    const meeting = runs.filter((r) => r.value !== null && r.value <= slo.maxMs && r.f.refused + r.f.timedOut === 0).sort((a, b) => a.f.replicaSeconds - b.f.replicaSeconds);
    const best = meeting[0];
    if (best === undefined) {
      met = false;
      const closest = runs.filter((r) => r.value !== null).sort((a, b) => (a.value ?? 0) - (b.value ?? 0))[0];
      const detail = closest === undefined ? 'no call was answered' : `closest: ${closest.stack} (${slo.percentile} ${oneDecimal(closest.value ?? 0)} ms, ${closest.f.refused + closest.f.timedOut} failed)`;
      lines.push(`${name}: no run meets ${slo.text} with no failed call; ${detail}`);
      continue;
    }
    const others = runs.filter((r) => r !== best).map((r) => {
      const saved = r.f.replicaSeconds > 0 ? (1 - best.f.replicaSeconds / r.f.replicaSeconds) * 100 : 0;
      return `${oneDecimal(saved)}% less than ${r.stack} (${oneDecimal(r.f.replicaSeconds)}${meeting.includes(r) ? '' : ', misses it'})`;
    });
    const against = others.length > 0 ? `, ${others.join(', ')}` : '';
    lines.push(`${name}: cheapest meeting ${slo.text}: ${best.stack}, ${oneDecimal(best.f.replicaSeconds)} replica-s (${slo.percentile} ${oneDecimal(best.value ?? 0)} ms)${against}`);
  }
  return { lines, met };
}
