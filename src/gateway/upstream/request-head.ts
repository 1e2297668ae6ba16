import { AppError } from '../../errors.js';

/** Methods that Node's client sends `Content-Length: 0` for when they have no body. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Characters never written into a request head from the values given: CR, LF, NUL. */
const HEAD_UNSAFE = /[\r\n\0]/;

/** The request a call sends: method, path (with query) and header pairs, Host among them. */
export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
  /** The body's length is not known (the client sent it chunked): it goes chunked. */
  readonly chunked: boolean;
  /** The headers already frame the body: a Content-Length is among them (0 included), or `chunked`. */
  readonly bodyFramed: boolean;
}

/** The request head as written (latin1, as Node writes header values); throws when a value could split it. */
export function requestHead(request: UpstreamRequest): string {
  const { method, path, headers } = request;
  if (unsafe(method) || unsafe(path) || method.includes(' ') || path.includes(' ')) throw splitting('the method or path');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] ?? '';
    const value = headers[i + 1] ?? '';
    if (unsafe(name) || unsafe(value)) throw splitting(`header ${JSON.stringify(name)}`);
    head += `${name}: ${value}\r\n`;
  }
  if (request.chunked) head += 'Transfer-Encoding: chunked\r\n';
  else if (!request.bodyFramed && !BODYLESS_METHODS.has(method)) head += 'Content-Length: 0\r\n';
  return `${head}\r\n`;
}

/** CR, LF or NUL: never written into a request head (Node's parser lets none through; a last guard). */
function unsafe(text: string): boolean {
  return HEAD_UNSAFE.test(text);
}

function splitting(what: string): AppError {
  return new AppError('BAD_REQUEST', `${what} holds a character that would split the request to the replica`);
}
