import type { Request } from 'express';
import { AppError } from '../errors.js';
import { parseFunctionRef, type FunctionRef } from '../providers/types.js';

/** Where a request named a namespace: `path` (`name.ns`), `query`, `body`, `serviceName`. */
type NamespaceSource = readonly [where: string, namespace: string | undefined];

/**
 * The one namespace a request names, or `fallback` when it names none. Two places that name
 * different namespaces are a 400 that names both: never one silently preferred.
 */
export function agreedNamespace(sources: readonly NamespaceSource[], fallback: string): string {
  let agreed: readonly [string, string] | undefined;
  for (const [where, namespace] of sources) {
    if (namespace === undefined) continue;
    if (agreed !== undefined && agreed[1] !== namespace) {
      throw new AppError('BAD_REQUEST', `namespace conflict: ${agreed[0]} says ${agreed[1]}, ${where} says ${namespace}`, {
        details: { namespaces: { [agreed[0]]: agreed[1], [where]: namespace } },
      });
    }
    agreed ??= [where, namespace];
  }
  return agreed?.[1] ?? fallback;
}

/** The namespace of `name.namespace`, undefined for a bare name. */
function namespaceIn(value: string): string | undefined {
  const dot = value.indexOf('.');
  return dot === -1 ? undefined : value.slice(dot + 1);
}

/** `?namespace=`: undefined when absent, BAD_REQUEST when empty or given twice. */
export function queryNamespace(req: Request): string | undefined {
  const value = req.query['namespace'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new AppError('BAD_REQUEST', 'query parameter namespace must be one non-empty string');
  return value;
}

/** The function a request names: path `name[.namespace]`, `?namespace=`, and the scale body. */
export function refFrom(
  req: Request,
  defaultNamespace: string,
  body: { serviceName?: string | undefined; namespace?: string | undefined } = {},
): FunctionRef {
  const path = String(req.params['name']);
  const { name } = parseFunctionRef(path, defaultNamespace);
  if (body.serviceName !== undefined && parseFunctionRef(body.serviceName, defaultNamespace).name !== name) {
    throw new AppError('BAD_REQUEST', `serviceName ${body.serviceName} does not match the path (${name})`);
  }
  const namespace = agreedNamespace(
    [
      ['the path', namespaceIn(path)],
      ['?namespace', queryNamespace(req)],
      ['the body namespace', body.namespace],
      ['the body serviceName', body.serviceName === undefined ? undefined : namespaceIn(body.serviceName)],
    ],
    defaultNamespace,
  );
  return { name, namespace };
}
