/** Types of scripts/layout-check.mjs, for the tests (see that file's header for the rules). */

/** One layout violation; `key` is what scripts/layout-allow.json lists. */
export interface LayoutViolation {
  readonly kind: 'file-length' | 'function-length' | 'cycle' | 'upward' | 'layer';
  readonly key: string;
  readonly message: string;
}

export declare const MAX_FILE_LINES: number;
export declare const MAX_FUNCTION_LINES: number;
export declare const TABLE_MARKER: string;
export declare const LAYERS: readonly string[];
export declare const POLICY_DATA_MODULES: readonly string[];

/** The layer of a src file (`src/policy/x.ts` → `policy`); undefined when it is in none. */
export declare function layerOf(file: string): string | undefined;

/** Every layout violation under `root` (a folder holding `src/`), sorted by key. */
export declare function checkLayout(root: string): LayoutViolation[];

/** Splits violations by an allowlist (key → reason). */
export declare function applyAllowlist(
  violations: readonly LayoutViolation[],
  allow: Readonly<Record<string, string>>,
): { failures: LayoutViolation[]; allowed: LayoutViolation[]; stale: string[] };

/** The command: prints what fails and the allowlist's count; returns the exit code. */
export declare function main(
  argv: readonly string[],
  out?: { write(text: string): unknown },
  err?: { write(text: string): unknown },
): number;
