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

/** The watch query of a label selector (none when empty). */
export function selectorQuery(labelSelector: string | undefined): Record<string, string> {
  return labelSelector === undefined || labelSelector === '' ? {} : { labelSelector };
}
