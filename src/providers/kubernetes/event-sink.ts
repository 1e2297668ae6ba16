import type { Logger } from 'winston';
import { parseFunctionRef, type FunctionRef } from '../../core/ref.js';
import type { EngineEvent, EventSink } from '../../engine/events.js';

/** The message of a `Scaled` Event: from, to, reason, source, and the alert that caused it when there is one. */
export function scaledMessage(event: EngineEvent): string {
  const alertname = event.inputs['alertname'];
  const detail = typeof alertname === 'string' ? ` (alert ${alertname})` : '';
  return `Scaled from ${event.from} to ${event.to}: ${event.reason} by ${event.source}${detail}`;
}

/**
 * An engine event sink that records each applied change (a `scale_up` or `scale_down`
 * decision; not `unchanged`, not a failure, not a replica's lifecycle) as a Kubernetes
 * `Scaled` Event on the function's Deployment, as the HPA does. The Event is created in the
 * background: a failure is logged (`scale event not recorded`), never raised.
 */
export function scaledEventSink(options: {
  readonly record: (ref: FunctionRef, from: number, to: number, message: string) => Promise<void>;
  readonly defaultNamespace: string;
  readonly logger: Logger;
}): EventSink {
  return (event) => {
    if (event.action !== 'scale_up' && event.action !== 'scale_down') return;
    const ref = parseFunctionRef(event.function, options.defaultNamespace);
    options.record(ref, event.from, event.to, scaledMessage(event)).catch((err: unknown) => {
      options.logger.warn('scale event not recorded', { function: event.function, error: err instanceof Error ? err.message : String(err) });
    });
  };
}
