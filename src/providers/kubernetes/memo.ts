/**
 * A bounded memo of a pure function of a string: the alert-state annotation is parsed and
 * digested again and again as it stays the same (every watch notification of the function,
 * every load and save of a step), so the last results are kept, at most `limit` texts (the
 * oldest one goes first). Results are shared: they must not be changed by the caller.
 */
export class TextMemo<T> {
  private readonly results = new Map<string, T>();

  constructor(private readonly limit: number) {}

  /** `compute(text)`, or the result kept for the same text; `keep` false: not kept (e.g. a failure). */
  get(text: string, compute: (text: string) => { readonly value: T; readonly keep: boolean }): T {
    const known = this.results.get(text);
    if (known !== undefined) return known;
    const { value, keep } = compute(text);
    if (keep) {
      if (this.results.size >= this.limit) this.results.delete(this.results.keys().next().value as string);
      this.results.set(text, value);
    }
    return value;
  }

  get size(): number {
    return this.results.size;
  }
}

/** Namespaces seen (a few per cluster), so each cached object shares one string instead of its own parsed copy. */
const namespaces = new TextMemo<string>(1024);

/** The one shared instance of a namespace name (each object parsed from JSON brings its own copy). */
export function sharedNamespace(name: string): string {
  return namespaces.get(name, (n) => ({ value: n, keep: true }));
}
