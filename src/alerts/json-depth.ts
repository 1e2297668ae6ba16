/**
 * Deepest nesting a webhook body may have. Alertmanager's payload (version 4) is 4 deep
 * (body → alerts → alert → labels); the rest is room for extra fields a relay may add. A
 * body nested deeper is refused before JSON.parse, which would otherwise build every level.
 */
export const MAX_WEBHOOK_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Tracks the nesting depth of JSON text chunk by chunk, in one pass over the bytes (UTF-8:
 * every structural character is ASCII, so multi-byte characters never look like one). It
 * does not check the grammar: JSON.parse does, on text known to be shallow.
 */
export class JsonDepthScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The deepest nesting seen so far. */
  deepest = 0;

  /** Scans one chunk; false once the nesting went deeper than `maxDepth` (the rest need not be scanned). */
  push(chunk: Uint8Array, maxDepth: number): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inString = false;
      } else if (byte === QUOTE) {
        this.inString = true;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        this.depth += 1;
        if (this.depth > this.deepest) this.deepest = this.depth;
        if (this.depth > maxDepth) return false;
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        this.depth -= 1;
      }
    }
    return true;
  }
}
