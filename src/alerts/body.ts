import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors.js';

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

/** What readJsonBody found: the parsed value, or a body nested deeper than allowed (not parsed). */
export type JsonBody = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly depth: number };

/**
 * Reads a request body of at most `limitBytes` bytes and parses it as JSON. The size is
 * counted as the bytes arrive (a declared Content-Length over the limit is refused before
 * reading), and the nesting is scanned per chunk as it arrives, so neither a large nor a
 * deep body costs the event loop more than one chunk at a time; JSON.parse runs only on a
 * body no deeper than `maxDepth`. BODY_TOO_LARGE (413) over the limit, BAD_REQUEST when
 * the text is not JSON or is compressed.
 */
export function readJsonBody(req: IncomingMessage, limitBytes: number, maxDepth: number): Promise<JsonBody> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limitBytes) {
    return Promise.reject(new AppError('BODY_TOO_LARGE', `request body of ${declared} bytes is over the ${limitBytes} byte limit`));
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return Promise.reject(new AppError('BAD_REQUEST', `Content-Encoding ${encoding} is not accepted; send the body as is`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const scanner = new JsonDepthScanner();
    let size = 0;
    let tooDeep = false;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        // The rest is read and dropped, so the 413 can be written on this connection.
        req.resume();
        reject(new AppError('BODY_TOO_LARGE', `request body is over the ${limitBytes} byte limit`));
        return;
      }
      if (tooDeep) return;
      if (scanner.push(chunk, maxDepth)) chunks.push(chunk);
      else {
        // Read to the end (the client gets its answer), keeping nothing.
        tooDeep = true;
        chunks.length = 0;
      }
    };
    const onEnd = (): void => {
      cleanup();
      if (tooDeep) {
        resolve({ ok: false, depth: scanner.deepest });
        return;
      }
      const text = Buffer.concat(chunks, size).toString('utf8');
      try {
        // No body at all is no payload (the schema says what is missing), as body-parser had it.
        resolve({ ok: true, value: text.trim() === '' ? undefined : (JSON.parse(text) as unknown) });
      } catch (err) {
        reject(new AppError('BAD_REQUEST', 'request body is not valid JSON', { cause: err }));
      }
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new AppError('BAD_REQUEST', 'request body could not be read', { cause: err }));
    };
    const onAborted = (): void => onError(new Error('request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
