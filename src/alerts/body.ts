import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors.js';
import { JsonDepthScanner } from './json-depth.js';

export { JsonDepthScanner, MAX_WEBHOOK_DEPTH } from './json-depth.js';

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
  const refused = refuseByHeaders(req, limitBytes);
  if (refused !== undefined) return Promise.reject(refused);
  return new Promise((resolve, reject) => new BodyReader(req, limitBytes, maxDepth, resolve, reject).listen());
}

/** The error for a body refused on its headers alone (declared size, compression); undefined when it may be read. */
function refuseByHeaders(req: IncomingMessage, limitBytes: number): AppError | undefined {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limitBytes) {
    return new AppError('BODY_TOO_LARGE', `request body of ${declared} bytes is over the ${limitBytes} byte limit`);
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return new AppError('BAD_REQUEST', `Content-Encoding ${encoding} is not accepted; send the body as is`);
  }
  return undefined;
}

/** Parses the collected text; no body at all is no payload (the schema says what is missing), as body-parser had it. */
function parseJsonText(text: string): JsonBody {
  try {
    return { ok: true, value: text.trim() === '' ? undefined : (JSON.parse(text) as unknown) };
  } catch (err) {
    throw new AppError('BAD_REQUEST', 'request body is not valid JSON', { cause: err });
  }
}

/** One body being read: counts its size, scans its depth, keeps its chunks while it stays shallow. */
class BodyReader {
  private readonly chunks: Buffer[] = [];
  private readonly scanner = new JsonDepthScanner();
  private size = 0;
  private tooDeep = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limitBytes: number,
    private readonly maxDepth: number,
    private readonly resolve: (body: JsonBody) => void,
    private readonly reject: (err: AppError) => void,
  ) {}

  /** Starts listening to the request's events. */
  listen(): void {
    this.req.on('data', this.onData);
    this.req.on('end', this.onEnd);
    this.req.on('error', this.onError);
    this.req.on('aborted', this.onAborted);
  }

  private cleanup(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onError);
    this.req.off('aborted', this.onAborted);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.size += chunk.length;
    if (this.size > this.limitBytes) {
      this.cleanup();
      // The rest is read and dropped, so the 413 can be written on this connection.
      this.req.resume();
      this.reject(new AppError('BODY_TOO_LARGE', `request body is over the ${this.limitBytes} byte limit`));
      return;
    }
    if (this.tooDeep) return;
    if (this.scanner.push(chunk, this.maxDepth)) this.chunks.push(chunk);
    else {
      // Read to the end (the client gets its answer), keeping nothing.
      this.tooDeep = true;
      this.chunks.length = 0;
    }
  };

  private readonly onEnd = (): void => {
    this.cleanup();
    if (this.tooDeep) {
      this.resolve({ ok: false, depth: this.scanner.deepest });
      return;
    }
    try {
      this.resolve(parseJsonText(Buffer.concat(this.chunks, this.size).toString('utf8')));
    } catch (err) {
      this.reject(err as AppError);
    }
  };

  private readonly onError = (err: Error): void => {
    this.cleanup();
    this.reject(new AppError('BAD_REQUEST', 'request body could not be read', { cause: err }));
  };

  private readonly onAborted = (): void => this.onError(new Error('request aborted'));
}
