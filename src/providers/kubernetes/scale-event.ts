import { hostname } from 'node:os';
import type { FunctionRef } from '../types.js';
import type { KubeApi } from './client.js';

/** The Event body KubeApi.createEvent takes. */
export type ScaleEventBody = Parameters<KubeApi['createEvent']>[1];

/**
 * A Kubernetes Event on the function's Deployment, as the HPA writes one: reason `Scaled`,
 * type Normal, message `New size: <to> (was <from>); reason: <message>`, at `now`.
 */
export function scaleEventBody(
  ref: FunctionRef,
  deployment: { readonly uid: string; readonly resourceVersion: string },
  change: { readonly from: number; readonly to: number; readonly message: string },
  now: Date,
): ScaleEventBody {
  return {
    metadata: { name: `${ref.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: ref.namespace },
    involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: ref.name, namespace: ref.namespace, uid: deployment.uid, resourceVersion: deployment.resourceVersion },
    reason: 'Scaled',
    type: 'Normal',
    message: `New size: ${change.to} (was ${change.from}); reason: ${change.message}`,
    source: { component: 'alert-scaler' },
    reportingComponent: 'alert-scaler',
    reportingInstance: hostname(),
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}
