/** Identifies one function: its name and namespace. A neutral module: imports nothing. */
export interface FunctionRef {
  readonly name: string;
  readonly namespace: string;
}

/** `name` or `name.namespace`, as OpenFaaS writes `function_name`. */
export function parseFunctionRef(value: string, defaultNamespace: string): FunctionRef {
  const dot = value.indexOf('.');
  if (dot === -1) return { name: value, namespace: defaultNamespace };
  return { name: value.slice(0, dot), namespace: value.slice(dot + 1) };
}

/** The `function_name` label value for a ref: bare name in the default namespace. */
export function functionLabel(ref: FunctionRef, defaultNamespace: string): string {
  return ref.namespace === defaultNamespace ? ref.name : `${ref.name}.${ref.namespace}`;
}

/** Stable map key for a ref. */
export function refKey(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
