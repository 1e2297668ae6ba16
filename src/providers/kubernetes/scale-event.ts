import { hostname } from 'node:os';
import type { FunctionRef } from '../types.js';
import type { KubeApi } from './client.js';

/** The message of a Scaled Event. */
export function scaleEventMessage(change: { readonly from: number; readonly to: number; readonly message: string }): string {
  return `New size: ${change.to} (was ${change.from}); reason: ${change.message}`;
}

/** The Event body KubeApi.createEvent takes. */
export type ScaleEventBody = Parameters<KubeApi['createEvent']>[1];

/**
 * A Kubernetes Event on the function's Deployment, as the HPA writes one: reason `Scaled`,
 * type Normal, message `New size: <to> (was <from>); reason: <message>`, at `now`; `count`
 * changes so far (EventAggregator bumps it on later ones).
 */
export function scaleEventBody(
  ref: FunctionRef,
  deployment: { readonly uid: string; readonly resourceVersion: string },
  change: { readonly from: number; readonly to: number; readonly message: string },
  now: Date,
  count = 1,
): ScaleEventBody {
  return {
    metadata: { name: `${ref.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: ref.namespace },
    involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: ref.name, namespace: ref.namespace, uid: deployment.uid, resourceVersion: deployment.resourceVersion },
    reason: 'Scaled',
    type: 'Normal',
    message: scaleEventMessage(change),
    source: { component: 'alert-scaler' },
    reportingComponent: 'alert-scaler',
    reportingInstance: hostname(),
    firstTimestamp: now,
    lastTimestamp: now,
    count,
  };
}
