/** Label OpenFaaS puts on function Deployments; its presence opts a Deployment in. */
export const FAAS_FUNCTION_LABEL = 'faas_function';
/** Label that opts any Deployment in when set to `true`. */
export const ENABLED_LABEL = 'alert-scaler.io/enabled';
/** The Deployment annotation that holds a function's alert state as JSON (not a policy input: kept out of `annotations` in the cache). */
export const STATE_ANNOTATION = 'alert-scaler.io/state';

/**
 * The label selectors of what alert-scaler manages (Deployments, their pods, their Services'
 * EndpointSlices): a selector cannot OR two labels, so two, disjoint (the second excludes
 * the first), each one list+watch stream, and no object is kept twice.
 */
export const OPT_IN_SELECTORS: readonly string[] = [FAAS_FUNCTION_LABEL, `${ENABLED_LABEL}=true,!${FAAS_FUNCTION_LABEL}`];

/** True when a Deployment carries `faas_function=<name>` or `alert-scaler.io/enabled=true`. */
export function isOptedIn(labels: Readonly<Record<string, string>>): boolean {
  return (labels[FAAS_FUNCTION_LABEL] ?? '') !== '' || labels[ENABLED_LABEL] === 'true';
}
