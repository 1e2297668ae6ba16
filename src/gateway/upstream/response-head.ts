/**
 * The head of a replica's HTTP/1.1 answer (RFC 9112 section 4 and 5): the status line and the
 * header lines, read strictly. Pure: text in, fields out, or an UpstreamProtocolError.
 */

/** A replica's answer that is not HTTP/1.1 the parser can frame. `code` as Node's parser errors. */
export class UpstreamProtocolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'UpstreamProtocolError';
    this.code = code;
  }
}

/** What a head says, as far as forwarding and framing the answer need. */
export interface ResponseHead {
  readonly code: number;
  /** [name, value, ...] as sent (names' case kept, values without surrounding spaces and tabs). */
  readonly raw: string[];
  /** The Content-Length, or -1 when none. */
  readonly contentLength: number;
  /** The Transfer-Encoding values joined, or null when none. */
  readonly transferEncoding: string | null;
  /** HTTP/1.0, or `Connection: close`: the connection is not used again. */
  readonly close: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters never allowed in a header value: NUL, bare CR or LF and other controls but HTAB. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;

/** Reads a head (without its final CRLFCRLF); throws UpstreamProtocolError on anything malformed. */
export function parseResponseHead(head: string): ResponseHead {
  const lines = head.split('\r\n');
  const status = STATUS_LINE.exec(lines[0] ?? '');
  if (status === null) throw new UpstreamProtocolError('HPE_INVALID_CONSTANT', 'the answer does not begin with an HTTP/1.x status line');
  const raw: string[] = [];
  let contentLength = -1;
  let transferEncoding: string | null = null;
  let close = status[1] === '0';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new UpstreamProtocolError('HPE_INVALID_HEADER_TOKEN', 'a response header line is not name: value');
    const value = trimOws(line.slice(colon + 1));
    if (BAD_VALUE.test(value)) throw new UpstreamProtocolError('HPE_INVALID_HEADER_TOKEN', `response header ${name}: a control character in its value`);
    raw.push(name, value);
    const lower = name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
    if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) throw new UpstreamProtocolError('HPE_INVALID_CONTENT_LENGTH', 'response Content-Length is not a length');
      const n = Number(value);
      if (contentLength >= 0 && contentLength !== n) throw new UpstreamProtocolError('HPE_UNEXPECTED_CONTENT_LENGTH', 'two different response Content-Lengths');
      contentLength = n;
    } else if (lower === 'transfer-encoding') {
      transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
    } else if (lower === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(value)) {
      close = true;
    }
  }
  return { code: Number(status[2]), raw, contentLength, transferEncoding, close };
}

/** The value without the spaces and tabs around it (RFC 9110 5.5 OWS). */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}
