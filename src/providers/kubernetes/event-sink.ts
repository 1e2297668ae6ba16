import type { Logger } from 'winston';
import { parseFunctionRef, type FunctionRef } from '../../core/ref.js';
import type { EngineEvent, EventSink } from '../../core/events.js';

/** The message of a `Scaled` Event: from, to, reason, source, and the alert that caused it when there is one. */
export function scaledMessage(event: EngineEvent): string {
  const alertname = event.inputs['alertname'];
  const detail = typeof alertname === 'string' ? ` (alert ${alertname})` : '';
  return `Scaled from ${event.from} to ${event.to}: ${event.reason} by ${event.source}${detail}`;
}

/** Events created at once by one sink, by default: bounds API calls in flight under an alert flood. */
export const EVENT_CONCURRENCY = 4;
/** Events waiting for a slot, by default; more are dropped (logged), never awaited by the change. */
export const EVENT_QUEUE_LIMIT = 1_000;

/**
 * An engine event sink that records each applied change (a `scale_up` or `scale_down`
 * decision; not `unchanged`, not a failure, not a replica's lifecycle) as a Kubernetes
 * `Scaled` Event on the function's Deployment, as the HPA does. The Event is created in the
 * background, off the change's (and the webhook answer's) path, at most `concurrency` at a
 * time with up to `queueLimit` waiting: a failure is logged (`scale event not recorded`), an
 * Event beyond the queue is dropped (`scale event dropped`), neither is raised.
 */
export function scaledEventSink(options: {
  readonly record: (ref: FunctionRef, from: number, to: number, message: string) => Promise<void>;
  readonly defaultNamespace: string;
  readonly logger: Logger;
  /** Events created at once; default EVENT_CONCURRENCY. */
  readonly concurrency?: number;
  /** Events waiting; default EVENT_QUEUE_LIMIT. */
  readonly queueLimit?: number;
}): EventSink {
  const concurrency = Math.max(1, options.concurrency ?? EVENT_CONCURRENCY);
  const queueLimit = Math.max(0, options.queueLimit ?? EVENT_QUEUE_LIMIT);
  const queue: EngineEvent[] = [];
  let running = 0;
  const create = (event: EngineEvent): void => {
    running += 1;
    const ref = parseFunctionRef(event.function, options.defaultNamespace);
    options
      .record(ref, event.from, event.to, scaledMessage(event))
      .catch((err: unknown) => {
        options.logger.warn('scale event not recorded', { function: event.function, error: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => {
        running -= 1;
        const next = queue.shift();
        if (next !== undefined) create(next);
      });
  };
  return (event) => {
    if (event.action !== 'scale_up' && event.action !== 'scale_down') return;
    if (running < concurrency) create(event);
    else if (queue.length < queueLimit) queue.push(event);
    else options.logger.warn('scale event dropped', { function: event.function, from: event.from, to: event.to, queued: queue.length });
  };
}
