import type { WebhookAlert } from '../alerts/payload.js';
import type { Clock } from '../core/clock.js';
import type { AlertSignal } from '../policy/alert-step.js';
import type { AlertingModel } from './alerting.js';

/** One scraped value of a counter: time (ms) and value. */
export interface Sample {
  readonly t: number;
  readonly v: number;
}

/**
 * Prometheus's `rate(counter[window])` at `end` (ms) over `samples` (oldest first), as its
 * extrapolatedRate does for a counter without resets: the samples in (end − window, end];
 * fewer than two gives no value (null); the increase between the first and last is
 * extrapolated to the window's edges when they are within 1.1 average sample gaps (else by
 * half a gap), and never back past the counter's zero; divided by the window in seconds.
 */
export function prometheusRate(samples: readonly Sample[], end: number, windowMs: number): number | null {
  const start = end - windowMs;
  let first: Sample | undefined;
  let last: Sample | undefined;
  let n = 0;
  for (const s of samples) {
    if (s.t <= start || s.t > end) continue;
    first ??= s;
    last = s;
    n += 1;
  }
  if (first === undefined || last === undefined || n < 2) return null;
  const increase = last.v - first.v;
  const sampled = (last.t - first.t) / 1000;
  const average = sampled / (n - 1);
  const threshold = average * 1.1;
  let toStart = (first.t - start) / 1000;
  if (toStart >= threshold) toStart = average / 2;
  if (increase > 0 && first.v >= 0) toStart = Math.min(toStart, sampled * (first.v / increase));
  let toEnd = (end - last.t) / 1000;
  if (toEnd >= threshold) toEnd = average / 2;
  const interval = sampled + toStart + toEnd;
  return (increase * (interval / sampled)) / (windowMs / 1000);
}

type RuleState = { readonly kind: 'inactive' } | { readonly kind: 'pending' | 'firing'; readonly activeAt: number };

interface Group {
  current: AlertSignal;
  notified: AlertSignal | null;
  lastNotifyAt: number;
}

export interface AlertPathOptions {
  readonly model: AlertingModel;
  readonly clock: Clock;
  /** Functions on the alert path (`rps`), by index; others are never scraped. */
  readonly functions: readonly number[];
  /** Names, by function index, for fingerprints. */
  readonly names: readonly string[];
  /** Calls of a function waiting for a busy replica now (the `waitingBranch` reads it at each scrape); none when absent. */
  readonly waiting?: (fn: number) => number;
  /** The webhook: Alertmanager notifies the scaler of one alert of one function. */
  readonly deliver: (fn: number, signal: AlertSignal) => void;
  /** Scrapes and evaluations stop once the clock passes this (read each time). */
  readonly endMs: () => number;
}

/**
 * The `rps` alert path on the clock: Prometheus scrapes each function's invocation counter
 * (started or answered 200, as the model's rule reads) and busy queue every scrape interval
 * and evaluates `rate(counter[window]) > threshold` (or, with the waiting branch, a queue
 * non-empty at every scrape of the window) every evaluation interval (inactive → pending → firing after `for`; firing → resolved);
 * Alertmanager keeps one group per function (group_by function_name): its first
 * notification after group_wait, then at each group_interval when the alert changed or
 * more than repeat_interval has passed since the last; a resolved alert is sent once
 * (send_resolved) and ends the group; one that resolves before it was ever sent is dropped.
 *
 * Two orderings follow the real pair (Prometheus 2.x, Alertmanager 0.25): Alertmanager's
 * group ticks run a moment after the evaluation that created the group (the alert's post
 * takes that long), so an evaluation and a flush due at the same instant run in that order
 * and a flush sees what the evaluation just posted; and a repeat needs the notification log's
 * entry, stamped after the last notification was delivered, to be older than
 * repeat_interval at the tick (`entry.Timestamp.Before(now - repeat)`), so when
 * repeat_interval is a multiple of group_interval a repeat comes one group_interval after it
 * (live, that is a race the repeat loses more often than not: the ticks drift later by the
 * timer's latency, the entry by the webhook's answer time).
 */
export class AlertPath {
  private readonly counters: Float64Array;
  private readonly samples: Sample[][];
  private readonly rules: RuleState[];
  private readonly groups = new Map<number, Group>();
  /** Busy-queue samples per function, for the waiting branch. */
  private readonly queueSamples: Sample[][];
  /** When each function's busy-queue series appeared (its first non-empty scrape); NaN before. */
  private readonly queueBornAt: Float64Array;

  constructor(private readonly options: AlertPathOptions) {
    const n = options.names.length;
    this.counters = new Float64Array(n);
    this.samples = Array.from({ length: n }, () => []);
    this.queueSamples = Array.from({ length: n }, () => []);
    this.queueBornAt = new Float64Array(n).fill(Number.NaN);
    this.rules = Array.from({ length: n }, (): RuleState => ({ kind: 'inactive' }));
  }

  /**
   * Starts the ticks: evaluations at whole evaluation intervals from now, scrapes half a
   * scrape interval off them (Prometheus spreads both, so neither lines up with the other;
   * a rule never sees a scrape of the same instant, and a window of two scrape intervals
   * always holds two samples).
   */
  start(): void {
    if (this.options.functions.length === 0) return;
    const { model } = this.options;
    this.every(model.scrapeIntervalMs / 2, model.scrapeIntervalMs, () => this.scrape());
    this.every(model.evaluationIntervalMs, model.evaluationIntervalMs, () => this.evaluate());
  }

  /** A call arrived (`gateway_function_invocation_started`): counted when the model's rule reads it. */
  started(fn: number): void {
    if (this.options.model.counts === 'started') this.counters[fn] = (this.counters[fn] ?? 0) + 1;
  }

  /** A call was answered 200 (`gateway_function_invocation_total{code="200"}`): counted when the model's rule reads it. */
  served(fn: number): void {
    if (this.options.model.counts === 'completed') this.counters[fn] = (this.counters[fn] ?? 0) + 1;
  }

  private every(firstMs: number, intervalMs: number, tick: () => void): void {
    const { clock, endMs } = this.options;
    const run = () => {
      // The next tick is queued before this one runs, so before any group flush this tick
      // starts: at an instant both share, the evaluation (and what it posts) comes first.
      if (clock.now() + intervalMs <= endMs()) clock.setTimeout(run, intervalMs);
      tick();
    };
    clock.setTimeout(run, firstMs);
  }

  private scrape(): void {
    const now = this.options.clock.now();
    const keepAfter = now - this.options.model.rateWindowMs - this.options.model.scrapeIntervalMs;
    for (const fn of this.options.functions) {
      const list = this.samples[fn] as Sample[];
      list.push({ t: now, v: this.counters[fn] ?? 0 });
      while (list.length > 0 && (list[0] as Sample).t < keepAfter) list.shift();
      if (this.options.model.waitingBranch) this.scrapeQueue(fn, now, keepAfter);
    }
  }

  /** One scrape of the busy-queue gauge; the series exists from its first non-empty value (the gateway creates it then). */
  private scrapeQueue(fn: number, now: number, keepAfter: number): void {
    const waiting = this.options.waiting?.(fn) ?? 0;
    if (Number.isNaN(this.queueBornAt[fn] as number)) {
      if (waiting === 0) return;
      this.queueBornAt[fn] = now;
    }
    const list = this.queueSamples[fn] as Sample[];
    list.push({ t: now, v: waiting });
    while (list.length > 0 && (list[0] as Sample).t < keepAfter) list.shift();
  }

  /**
   * `min_over_time(queue{reason="busy"}[window]) > 0 and queue offset window`: the series is a
   * window old and every sample in the window is non-zero.
   */
  private waitedWindow(fn: number, now: number): boolean {
    const { model } = this.options;
    if (!model.waitingBranch || !((this.queueBornAt[fn] as number) <= now - model.rateWindowMs)) return false;
    const inWindow = (this.queueSamples[fn] as Sample[]).filter((s) => s.t > now - model.rateWindowMs && s.t <= now);
    return inWindow.length > 0 && inWindow.every((s) => s.v > 0);
  }

  private evaluate(): void {
    const { model, clock, names } = this.options;
    const now = clock.now();
    for (const fn of this.options.functions) {
      const rate = prometheusRate(this.samples[fn] as Sample[], now, model.rateWindowMs);
      const active = (rate !== null && rate > model.threshold) || this.waitedWindow(fn, now);
      const rule = this.rules[fn] as RuleState;
      const fingerprint = `APIHighInvocationRate/${names[fn] ?? fn}`;
      if (active) {
        const activeAt = rule.kind === 'inactive' ? now : rule.activeAt;
        const firing = now - activeAt >= model.forMs;
        this.rules[fn] = { kind: firing ? 'firing' : 'pending', activeAt };
        if (firing) this.receive(fn, { status: 'firing', fingerprint, startsAt: new Date(activeAt).toISOString() });
      } else {
        this.rules[fn] = { kind: 'inactive' };
        if (rule.kind === 'firing') this.receive(fn, { status: 'resolved', fingerprint, startsAt: new Date(rule.activeAt).toISOString() });
      }
    }
  }

  /** Alertmanager receives an alert from Prometheus. */
  private receive(fn: number, signal: AlertSignal): void {
    const group = this.groups.get(fn);
    if (group !== undefined) {
      group.current = signal;
      return;
    }
    if (signal.status === 'resolved') return;
    this.groups.set(fn, { current: signal, notified: null, lastNotifyAt: 0 });
    this.options.clock.setTimeout(() => this.flush(fn), this.options.model.groupWaitMs);
  }

  private flush(fn: number): void {
    const group = this.groups.get(fn);
    if (group === undefined) return;
    const { clock, model, deliver } = this.options;
    const now = clock.now();
    const { current, notified } = group;
    const changed = notified === null || notified.status !== current.status || notified.startsAt !== current.startsAt;
    const neverSentFiring = current.status === 'resolved' && (notified === null || notified.status === 'resolved');
    if (!neverSentFiring && (changed || now - group.lastNotifyAt > model.repeatIntervalMs)) {
      group.notified = current;
      group.lastNotifyAt = now;
      deliver(fn, current);
    }
    if (current.status === 'resolved' || now + model.groupIntervalMs > this.options.endMs()) this.groups.delete(fn);
    else clock.setTimeout(() => this.flush(fn), model.groupIntervalMs);
  }
}

/** 16 hex digits from `text` (FNV-1a, 64 bits), the form of Alertmanager's fingerprints. */
function fingerprintOf(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) hash = BigInt.asUintN(64, (hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n);
  return hash.toString(16).padStart(16, '0');
}

/**
 * The alert of a notification as Alertmanager posts it for the shipped rule: `alertname`
 * APIHighInvocationRate and the function's `function_name`, with the rule's start time.
 */
export function webhookAlert(functionName: string, signal: AlertSignal): WebhookAlert {
  return {
    status: signal.status,
    labels: { alertname: 'APIHighInvocationRate', function_name: functionName },
    annotations: {},
    startsAt: signal.startsAt,
    fingerprint: fingerprintOf(signal.fingerprint),
  };
}
