/** The query of a list (label selector, page) and of a watch, as client-node takes them. */

/** A list (or one page of it) with the resourceVersion to watch from. */
export interface Listed<T> {
  readonly items: T[];
  readonly resourceVersion: string;
  /** The token of the next page; absent or empty on the last one. */
  readonly continue?: string;
}

/** What a list asks for: a label selector, and a page (`limit` items from `continue`). */
export interface ListOptions {
  /** e.g. `faas_function` or `alert-scaler.io/enabled=true,!faas_function`; absent: every object. */
  readonly labelSelector?: string;
  /** Items per page; absent or 0: the whole list in one answer. */
  readonly limit?: number;
  /** The `continue` token of the previous page. */
  readonly continue?: string;
}

/** The list query parameters of `options` that are set (client-node sends only those). */
export function listParams(options: ListOptions): { labelSelector?: string; limit?: number; _continue?: string } {
  return {
    ...(options.labelSelector === undefined || options.labelSelector === '' ? {} : { labelSelector: options.labelSelector }),
    ...(options.limit === undefined || options.limit <= 0 ? {} : { limit: options.limit }),
    ...(options.continue === undefined || options.continue === '' ? {} : { _continue: options.continue }),
  };
}

export function listed<T>(list: { items: T[]; metadata?: { resourceVersion?: string; _continue?: string } }): Listed<T> {
  const next = list.metadata?._continue;
  return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '', ...(next === undefined || next === '' ? {} : { continue: next }) };
}

/** The watch query of a label selector (none when empty). */
export function selectorQuery(labelSelector: string | undefined): Record<string, string> {
  return labelSelector === undefined || labelSelector === '' ? {} : { labelSelector };
}
