/**
 * ResponseParser, fed raw bytes as a replica's connection would deliver them: whole, one byte
 * at a time and split in two at every position. No sockets.
 */
import { describe, expect, it } from '@jest/globals';
import { MAX_HEAD_BYTES, ResponseParser, UpstreamProtocolError, type ResponseSink } from '../../src/gateway/upstream/response-parser.js';

/** A sink that keeps what the parser hands on, in order. */
class Recorder implements ResponseSink {
  readonly heads: Array<{ status: number; rawHeaders: string[] }> = [];
  readonly chunks: Buffer[] = [];
  readonly events: string[] = [];
  ends = 0;

  responseHead(status: number, rawHeaders: string[]): void {
    this.heads.push({ status, rawHeaders });
    this.events.push(`head ${status}`);
  }

  responseData(chunk: Buffer): void {
    this.chunks.push(Buffer.from(chunk));
    this.events.push('data');
  }

  responseEnd(): void {
    this.ends += 1;
    this.events.push('end');
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

function parserFor(method = 'GET'): { parser: ResponseParser; sink: Recorder } {
  const sink = new Recorder();
  const parser = new ResponseParser(sink);
  parser.reset(method);
  return { parser, sink };
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Feeds `pieces` in order; returns the leftover counts each feed reported. */
function feedAll(parser: ResponseParser, pieces: readonly Buffer[]): number[] {
  return pieces.map((piece) => parser.feed(piece));
}

/** `answer` as 1-byte pieces. */
function byteByByte(answer: Buffer): Buffer[] {
  return [...answer].map((_, i) => answer.subarray(i, i + 1));
}

/** The UpstreamProtocolError code `run` throws; fails the test when it throws nothing or something else. */
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamProtocolError);
    return (err as UpstreamProtocolError).code;
  }
  throw new Error('expected an UpstreamProtocolError, nothing was thrown');
}

interface Framed {
  readonly name: string;
  readonly answer: string;
  readonly status: number;
  readonly body: string;
}

const framed: Framed[] = [
  {
    name: 'a Content-Length body',
    answer: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world',
    status: 200,
    body: 'hello world',
  },
  {
    name: 'a chunked body with chunk extensions and trailers',
    answer:
      'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n' +
      '7 ; a="b;c" ; d\r\n, world\r\n' +
      '1A\r\nabcdefghijklmnopqrstuvwxyz\r\n' +
      '0;last\r\nX-Checksum: 123\r\nX-Other:\tdone \r\n\r\n',
    status: 201,
    body: 'hello, worldabcdefghijklmnopqrstuvwxyz',
  },
  {
    name: '100 Continue and 103 Early Hints before a Content-Length answer',
    answer:
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    status: 200,
    body: 'ok',
  },
];

describe('ResponseParser framing', () => {
  describe.each(framed)('$name', ({ answer, status, body }) => {
    const whole = bytes(answer);

    /** Checks what one reading of `pieces` produced. */
    function expectRead(pieces: readonly Buffer[], label: string): void {
      const { parser, sink } = parserFor();
      expect({ label, leftovers: feedAll(parser, pieces).filter((n) => n !== 0) }).toEqual({ label, leftovers: [] });
      expect({ label, body: sink.body, ends: sink.ends, heads: sink.heads.map((h) => h.status) }).toEqual({ label, body, ends: 1, heads: [status] });
      expect({ label, complete: parser.complete, reusable: parser.reusable }).toEqual({ label, complete: true, reusable: true });
      expect(sink.events[0]).toBe(`head ${status}`);
      expect(sink.events[sink.events.length - 1]).toBe('end');
      expect(sink.chunks.every((c) => c.length > 0)).toBe(true);
    }

    it('is read whole in one piece', () => {
      expectRead([whole], 'one piece');
    });

    it('is read the same when fed one byte at a time', () => {
      expectRead(byteByByte(whole), 'byte by byte');
    });

    it('is read the same when split in two at every byte position', () => {
      for (let at = 1; at < whole.length; at++) expectRead([whole.subarray(0, at), whole.subarray(at)], `split at ${at}`);
    });

    it('is not complete before its last byte', () => {
      const { parser, sink } = parserFor();
      parser.feed(whole.subarray(0, whole.length - 1));
      expect(parser.complete).toBe(false);
      expect(parser.reusable).toBe(false);
      expect(sink.ends).toBe(0);
    });
  });

  it('passes each Content-Length body piece on as it arrives', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab'));
    expect(parser.headDone).toBe(true);
    expect(sink.body).toBe('ab');
    parser.feed(bytes('cd'));
    expect(sink.body).toBe('abcd');
    expect(parser.complete).toBe(false);
    parser.feed(bytes('ef'));
    expect(sink.events).toEqual(['head 200', 'data', 'data', 'data', 'end']);
  });

  it('is not headDone while the head is incomplete', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r'));
    expect(parser.headDone).toBe(false);
    expect(sink.heads).toEqual([]);
    parser.feed(bytes('\n'));
    expect(parser.headDone).toBe(true);
    expect(sink.heads.map((h) => h.status)).toEqual([200]);
  });

  it('reads a Content-Length of 0 as a complete answer without data', () => {
    const { parser, sink } = parserFor();
    expect(parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'))).toBe(0);
    expect(sink.events).toEqual(['head 200', 'end']);
    expect(parser.reusable).toBe(true);
  });

  it('takes the same Content-Length given twice', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc'));
    expect(sink.body).toBe('abc');
    expect(parser.reusable).toBe(true);
  });

  it.each([
    ['content-length: 3', 'abc'],
    ['CONTENT-LENGTH: 3', 'abc'],
    ['transfer-encoding: Chunked', '3\r\nabc\r\n0\r\n\r\n'],
    ['TRANSFER-ENCODING: gzip, chunked', '3\r\nabc\r\n0\r\n\r\n'],
  ])('reads the framing header %j whatever its case', (header, rest) => {
    const { parser, sink } = parserFor();
    expect(parser.feed(bytes(`HTTP/1.1 200 OK\r\n${header}\r\n\r\n${rest}`))).toBe(0);
    expect(sink.body).toBe('abc');
    expect(parser.reusable).toBe(true);
  });

  it('takes a status line without a reason phrase', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n'));
    expect(sink.heads.map((h) => h.status)).toEqual([404]);
    expect(parser.complete).toBe(true);
  });
});

describe('ResponseParser answers without a body', () => {
  const rows: Array<[string, string, string, number]> = [
    ['a 204 with a Content-Length', 'GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', 204],
    ['a 304 with a Content-Length', 'GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n', 304],
    ['a 200 to a HEAD request with a Content-Length', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 200],
    ['a 200 to a HEAD request with chunked', 'HEAD', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 200],
  ];
  it.each(rows)('%s is complete at the end of its head', (_name, method, head, status) => {
    const { parser, sink } = parserFor(method);
    // The bytes after the head are not taken as a body: they are left over.
    expect(parser.feed(bytes(`${head}hello`))).toBe(5);
    expect(sink.events).toEqual([`head ${status}`, 'end']);
    expect(parser.complete).toBe(true);
  });

  it.each(rows)('%s alone leaves the connection reusable', (_name, method, head) => {
    const { parser } = parserFor(method);
    expect(parser.feed(bytes(head))).toBe(0);
    expect(parser.reusable).toBe(true);
  });
});

describe('ResponseParser informational answers', () => {
  it('skips 100 Continue and 103 Early Hints: only the final head reaches the sink', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 100 Continue\r\n\r\n'));
    expect(parser.headDone).toBe(false);
    parser.feed(bytes('HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n'));
    expect(parser.headDone).toBe(false);
    expect(sink.heads).toEqual([]);
    parser.feed(bytes('HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 0\r\n\r\n'));
    expect(sink.heads).toEqual([{ status: 200, rawHeaders: ['X-Final', 'yes', 'Content-Length', '0'] }]);
    expect(parser.reusable).toBe(true);
  });

  it('passes 101 to the sink, is complete and not reusable, and leaves what follows unread', () => {
    const { parser, sink } = parserFor();
    const left = parser.feed(bytes('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00'));
    expect(sink.heads).toEqual([{ status: 101, rawHeaders: ['Upgrade', 'websocket', 'Connection', 'Upgrade'] }]);
    expect(left).toBe(2);
    expect(sink.chunks).toEqual([]);
    expect(parser.complete).toBe(true);
    expect(parser.reusable).toBe(false);
  });

  it('does not make a 101 alone reusable', () => {
    const { parser } = parserFor();
    expect(parser.feed(bytes('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'))).toBe(0);
    expect(parser.complete).toBe(true);
    expect(parser.reusable).toBe(false);
  });
});

describe('ResponseParser close-delimited bodies and close()', () => {
  it.each([
    ['no length and no chunked', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n'],
    ['a Transfer-Encoding whose last coding is not chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'],
    ['HTTP/1.0 without a length', 'HTTP/1.0 200 OK\r\n\r\n'],
  ])('a body with %s runs until close() and completes then', (_name, head) => {
    const { parser, sink } = parserFor();
    expect(parser.feed(bytes(`${head}abc`))).toBe(0);
    expect(parser.feed(bytes('def'))).toBe(0);
    expect(parser.complete).toBe(false);
    expect(sink.ends).toBe(0);
    expect(parser.close()).toBe(true);
    expect(sink.body).toBe('abcdef');
    expect(sink.ends).toBe(1);
    expect(parser.complete).toBe(true);
    expect(parser.reusable).toBe(false);
  });

  it.each([
    ['before any byte', ''],
    ['in the middle of the head', 'HTTP/1.1 200 OK\r\nContent-Le'],
    ['before the end of a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'],
    ['inside a chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ['before the last chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n'],
    ['inside the trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n'],
    ['after a 100 Continue only', 'HTTP/1.1 100 Continue\r\n\r\n'],
  ])('close() %s returns false and ends nothing', (_name, sent) => {
    const { parser, sink } = parserFor();
    parser.feed(bytes(sent));
    expect(parser.close()).toBe(false);
    expect(sink.ends).toBe(0);
    expect(parser.complete).toBe(false);
    expect(parser.reusable).toBe(false);
  });

  it('close() after a complete answer returns true but the answer is no longer reusable', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    expect(parser.reusable).toBe(true);
    expect(parser.close()).toBe(true);
    expect(sink.ends).toBe(1);
    expect(parser.reusable).toBe(false);
  });
});

describe('ResponseParser reuse of the connection', () => {
  it.each([
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', false],
    ['Connection: keep-alive, Close', 'HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok', false],
    ['HTTP/1.0 with a Content-Length', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', false],
    ['HTTP/1.0 with Connection: keep-alive', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', false],
    ['Connection: keep-alive', 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', true],
    ['Connection: closed (not the close option)', 'HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 2\r\n\r\nok', true],
    ['a plain HTTP/1.1 answer', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', true],
  ])('an answer with %s is complete, reusable: %s', (_name, answer, reusable) => {
    const { parser, sink } = parserFor();
    expect(parser.feed(bytes(answer))).toBe(0);
    expect(sink.body).toBe('ok');
    expect(sink.ends).toBe(1);
    expect(parser.complete).toBe(true);
    expect(parser.reusable).toBe(reusable);
  });

  it.each([
    ['Transfer-Encoding first', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['Content-Length first', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
  ])('Transfer-Encoding with a Content-Length (%s) is refused, as Node\'s parser does: nothing reaches the sink', (_name, answer) => {
    const { parser, sink } = parserFor();
    expect(codeOf(() => parser.feed(bytes(answer)))).toBe('HPE_UNEXPECTED_CONTENT_LENGTH');
    expect(sink.events).toEqual([]);
  });

  it.each([
    ['a Content-Length answer', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'HTTP/1.1 200 OK\r\n'],
    ['a chunked answer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', 'junk'],
    ['a 204', 'HTTP/1.1 204 No Content\r\n\r\n', 'x'],
  ])('bytes after %s are reported as leftover and make it not reusable', (_name, answer, extra) => {
    const { parser, sink } = parserFor();
    expect(parser.feed(bytes(answer + extra))).toBe(extra.length);
    expect(sink.ends).toBe(1);
    expect(parser.complete).toBe(true);
    expect(parser.reusable).toBe(false);
  });

  it('bytes fed after a complete answer, in a later read, are leftover and make it not reusable', () => {
    const { parser, sink } = parserFor();
    expect(parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'))).toBe(0);
    expect(parser.reusable).toBe(true);
    expect(parser.feed(bytes('more'))).toBe(4);
    expect(sink.body).toBe('ok');
    expect(parser.reusable).toBe(false);
  });

  it('reset() lets the same parser read a second answer', () => {
    const { parser, sink } = parserFor();
    parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst'));
    expect(parser.reusable).toBe(true);
    parser.reset('GET');
    expect(parser.complete).toBe(false);
    expect(parser.headDone).toBe(false);
    parser.feed(bytes('HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n'));
    expect(sink.heads.map((h) => h.status)).toEqual([200, 202]);
    expect(sink.body).toBe('firstsecond');
    expect(sink.ends).toBe(2);
    expect(parser.reusable).toBe(true);
  });

  it('reset() clears what the previous answer left: not-reusable, a HEAD request and a partial head', () => {
    const { parser, sink } = parserFor('HEAD');
    parser.feed(bytes('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n'));
    expect(parser.reusable).toBe(false);
    parser.reset('GET');
    parser.feed(bytes('HTTP/1.1 200 OK\r\nX-Cut: '));
    parser.reset('GET');
    expect(parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'))).toBe(0);
    expect(sink.heads.map((h) => h.rawHeaders)).toEqual([
      ['Connection', 'close', 'Content-Length', '3'],
      ['Content-Length', '3'],
    ]);
    expect(sink.body).toBe('abc');
    expect(parser.reusable).toBe(true);
  });
});

describe('ResponseParser headers', () => {
  it('keeps the names as sent and the values without the spaces and tabs around them', () => {
    const { parser, sink } = parserFor();
    parser.feed(
      bytes(
        'HTTP/1.1 200 OK\r\n' +
          'X-Mixed-CASE:   \t value with  inner\tspace \t \r\n' +
          'x-lower:v\r\n' +
          'X-Empty:\r\n' +
          'X-Blank: \t \r\n' +
          'Set-Cookie: a=1\r\n' +
          'Set-Cookie: b=2\r\n' +
          'Content-Length: 0\r\n\r\n',
      ),
    );
    expect(sink.heads).toEqual([
      {
        status: 200,
        rawHeaders: ['X-Mixed-CASE', 'value with  inner\tspace', 'x-lower', 'v', 'X-Empty', '', 'X-Blank', '', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '0'],
      },
    ]);
  });

  it('reads header values as latin1 bytes', () => {
    const { parser, sink } = parserFor();
    parser.feed(Buffer.concat([bytes('HTTP/1.1 200 OK\r\nX-Name: caf'), Buffer.from([0xe9]), bytes('\r\nContent-Length: 0\r\n\r\n')]));
    expect(sink.heads[0]?.rawHeaders[1]).toBe('caf\u00e9');
  });

  it('takes a head of exactly MAX_HEAD_BYTES, in one piece and byte by byte', () => {
    const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
    const head = bytes(start + 'a'.repeat(MAX_HEAD_BYTES - start.length - 4) + '\r\n\r\n');
    expect(head.length).toBe(MAX_HEAD_BYTES);
    for (const pieces of [[head], byteByByte(head)]) {
      const { parser, sink } = parserFor();
      feedAll(parser, pieces);
      expect(sink.ends).toBe(1);
      expect(parser.reusable).toBe(true);
    }
  });
});

describe('ResponseParser malformed answers', () => {
  const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  const overHead = (() => {
    const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
    return start + 'a'.repeat(MAX_HEAD_BYTES - start.length - 3) + '\r\n\r\n';
  })();
  const rows: Array<[string, string, string]> = [
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['a non-numeric Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['a negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['an empty Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['a Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['a non-hex chunk size', `${CHUNKED}5g\r\nhello\r\n0\r\n\r\n`, 'HPE_INVALID_CHUNK_SIZE'],
    ['an empty chunk size', `${CHUNKED}\r\nhello\r\n0\r\n\r\n`, 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk size of 13 hex digits', `${CHUNKED}1000000000000\r\n`, 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk-size line over 4 KiB', `${CHUNKED}5;${'x'.repeat(5000)}\r\nhello\r\n`, 'HPE_INVALID_CHUNK_SIZE'],
    ['a missing CRLF after chunk data', `${CHUNKED}5\r\nhelloXY0\r\n\r\n`, 'HPE_STRICT'],
    ['a bare LF after chunk data', `${CHUNKED}5\r\nhello\n0\r\n\r\n`, 'HPE_STRICT'],
    ['a bare LF ending a chunk-size line', `${CHUNKED}5\nhello\r\n0\r\n\r\n`, 'HPE_STRICT'],
    ['a bare LF ending a trailer line', `${CHUNKED}0\r\nX-T: 1\n\r\n`, 'HPE_STRICT'],
    ['an obs-fold header line starting with a space', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['an obs-fold header line starting with a tab', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\tcontinued\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a header name with a space', 'HTTP/1.1 200 OK\r\nX Name: 1\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nX-Name : 1\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nX-Name\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['an empty header name', 'HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a control character in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a NUL in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a DEL in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a bare CR in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a bare LF inside a header line', 'HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['an HTTP/2 status line', 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['an HTTP/1.2 status line', 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a lowercase protocol name', 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a non-HTTP status line', 'ICY 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a two-digit status', 'HTTP/1.1 99 Odd\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a four-digit status', 'HTTP/1.1 2000 Odd\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a head over MAX_HEAD_BYTES', overHead, 'HPE_HEADER_OVERFLOW'],
    ['a head over MAX_HEAD_BYTES that never ends', `HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(MAX_HEAD_BYTES)}`, 'HPE_HEADER_OVERFLOW'],
    ['trailers over MAX_HEAD_BYTES', `${CHUNKED}0\r\n${`X-T: ${'t'.repeat(1000)}\r\n`.repeat(17)}\r\n`, 'HPE_HEADER_OVERFLOW'],
  ];

  it.each(rows)('%s throws UpstreamProtocolError when fed whole', (_name, answer, code) => {
    const { parser, sink } = parserFor();
    expect(codeOf(() => parser.feed(bytes(answer)))).toBe(code);
    expect(sink.ends).toBe(0);
  });

  it.each(rows)('%s throws the same code when fed one byte at a time', (_name, answer, code) => {
    const { parser, sink } = parserFor();
    expect(codeOf(() => feedAll(parser, byteByByte(bytes(answer))))).toBe(code);
    expect(sink.ends).toBe(0);
  });

  it('a malformed informational head throws too', () => {
    const { parser } = parserFor();
    expect(codeOf(() => parser.feed(bytes('HTTP/1.1 100 Continue\r\nBad Name: x\r\n\r\n')))).toBe('HPE_INVALID_HEADER_TOKEN');
  });

  it('an UpstreamProtocolError is an Error with its name and code', () => {
    const err = new UpstreamProtocolError('HPE_STRICT', 'what happened');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('UpstreamProtocolError');
    expect(err.code).toBe('HPE_STRICT');
    expect(err.message).toBe('what happened');
  });
});

/** A sink that also takes whole answers (what the gateway's connections do). */
class WholeRecorder extends Recorder {
  readonly wholes: Array<{ status: number; rawHeaders: string[]; body: string; chunked: boolean }> = [];

  responseWhole(status: number, rawHeaders: string[], body: Buffer, chunked: boolean): void {
    this.wholes.push({ status, rawHeaders, body: body.toString('latin1'), chunked });
    this.events.push(`whole ${status}`);
  }
}

function wholeParserFor(method = 'GET'): { parser: ResponseParser; sink: WholeRecorder } {
  const sink = new WholeRecorder();
  const parser = new ResponseParser(sink);
  parser.reset(method);
  return { parser, sink };
}

describe('an answer whole in one read goes to responseWhole, once, when the sink takes it', () => {
  it.each<[string, string, number, string, boolean]>([
    ['a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 200, 'hello', false],
    ['a chunked body in two chunks, with an extension', 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n', 201, 'hello', true],
    ['an empty chunked body', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 200, '', true],
    ['chunk sizes with spaces and tabs around them (the lines the incremental parser takes)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 \t;x\r\nhel\r\n\t2 \r\nlo\r\n0 \r\n\r\n', 200, 'hello', true],
    ['a 204', 'HTTP/1.1 204 No Content\r\n\r\n', 204, '', false],
    ['Content-Length 0', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 200, '', false],
  ])('%s', (_name, answer, status, body, chunked) => {
    const { parser, sink } = wholeParserFor();
    expect(parser.feed(bytes(answer))).toBe(0);
    expect(sink.events).toEqual([`whole ${status}`]);
    expect(sink.wholes[0]?.body).toBe(body);
    expect(sink.wholes[0]?.chunked).toBe(chunked);
    expect(parser.complete).toBe(true);
    expect(parser.reusable).toBe(true);
  });

  it('a HEAD answer with a Content-Length is whole with no body', () => {
    const { parser, sink } = wholeParserFor('HEAD');
    expect(parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'))).toBe(0);
    expect(sink.wholes.map((w) => [w.status, w.body])).toEqual([[200, '']]);
  });

  it('bytes after a whole answer are leftover and make the connection not reusable', () => {
    const { parser, sink } = wholeParserFor();
    expect(parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA'))).toBe(5);
    expect(sink.wholes.map((w) => w.body)).toEqual(['ok']);
    expect(parser.reusable).toBe(false);
  });

  it.each<[string, string[], string]>([
    ['a body that continues in the next read', ['HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab', 'cd'], 'abcd'],
    ['a chunked body that continues in the next read', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n', '2\r\ncd\r\n0\r\n\r\n'], 'abcd'],
    ['a chunked body with trailers', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n'], 'ab'],
    ['a close-delimited body', ['HTTP/1.1 200 OK\r\n\r\nabcd'], 'abcd'],
  ])('%s is read incrementally (head, data, end)', (_name, pieces, body) => {
    const { parser, sink } = wholeParserFor();
    for (const piece of pieces) expect(parser.feed(bytes(piece))).toBe(0);
    if (!parser.complete) parser.close();
    expect(sink.wholes).toEqual([]);
    expect(sink.events[0]).toBe('head 200');
    expect(sink.body).toBe(body);
    expect(sink.ends).toBe(1);
  });

  it('a 101 is handed on as a head, never whole', () => {
    const { parser, sink } = wholeParserFor();
    parser.feed(bytes('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'));
    expect(sink.events).toEqual(['head 101']);
    expect(parser.reusable).toBe(false);
  });

  it.each<[string, string, string]>([
    ['a chunk without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n', 'HPE_STRICT'],
    ['a chunk size that is not hexadecimal', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  ])('%s is still an error (the incremental parser reads what the whole path does not take)', (_name, answer, code) => {
    const { parser, sink } = wholeParserFor();
    expect(codeOf(() => parser.feed(bytes(answer)))).toBe(code);
    expect(sink.wholes).toEqual([]);
  });
});
