import { describe, expect, it } from '@jest/globals';
import { FrameCursor, closeFrame } from '../../src/gateway/websocket-frames.js';

/** A frame as a replica (server) sends it: unmasked, with the shortest length encoding. */
function frame(opcode: number, payloadLength: number, masked = false): Buffer {
  const len7 = payloadLength < 126 ? payloadLength : payloadLength < 65_536 ? 126 : 127;
  const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const head = Buffer.alloc(2 + extended + (masked ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (masked ? 0x80 : 0) | len7;
  if (len7 === 126) head.writeUInt16BE(payloadLength, 2);
  if (len7 === 127) head.writeBigUInt64BE(BigInt(payloadLength), 2);
  return Buffer.concat([head, Buffer.alloc(payloadLength, 0x61)]);
}

/** Feeds `stream` to a cursor in pieces of `size` bytes; returns whether it ended at a boundary. */
function feed(stream: Buffer, size: number): FrameCursor {
  const cursor = new FrameCursor();
  for (let at = 0; at < stream.length; at += size) expect(cursor.advance(stream.subarray(at, at + size))).toBe(Math.min(size, stream.length - at));
  return cursor;
}

describe('FrameCursor', () => {
  const stream = Buffer.concat([frame(0x1, 5), frame(0x2, 300), frame(0x2, 70_000), frame(0x9, 0), frame(0x1, 3, true)]);
  it.each([1, 2, 3, 7, 13, 1000, stream.length])('a stream of whole frames in pieces of %i bytes ends at a boundary', (size) => {
    expect(feed(stream, size).atBoundary).toBe(true);
  });

  const rows: Array<[string, Buffer, boolean]> = [
    ['a header cut after its first byte is not a boundary', frame(0x1, 5).subarray(0, 1), false],
    ['a 16-bit length cut in the middle is not a boundary', frame(0x2, 300).subarray(0, 3), false],
    ['a 64-bit length header without its payload is not a boundary', frame(0x2, 70_000).subarray(0, 10), false],
    ['a masked frame without its mask key is not a boundary', frame(0x1, 3, true).subarray(0, 4), false],
    ['an empty ping is a whole frame', frame(0x9, 0), true],
  ];
  it.each(rows)('%s', (_name, bytes, boundary) => {
    expect(feed(bytes, 1).atBoundary).toBe(boundary);
  });

  it('with stop, moves over the rest of the frame in flight and no further', () => {
    const cursor = new FrameCursor();
    const first = frame(0x2, 300);
    cursor.advance(first.subarray(0, 100));
    const rest = Buffer.concat([first.subarray(100), frame(0x1, 5)]);
    expect(cursor.advance(rest, true)).toBe(first.length - 100);
    expect(cursor.atBoundary).toBe(true);
    expect(cursor.advance(rest.subarray(first.length - 100), true)).toBe(0);
  });

  it('sees a close frame go by', () => {
    const cursor = feed(Buffer.concat([frame(0x1, 2), frame(0x8, 2)]), 3);
    expect(cursor.closeSeen).toBe(true);
    expect(feed(frame(0x1, 2), 1).closeSeen).toBe(false);
  });
});

describe('closeFrame', () => {
  it('is an unmasked close frame with the code and the reason', () => {
    const bytes = closeFrame(1001, 'idle timeout');
    expect([...bytes.subarray(0, 4)]).toEqual([0x88, 14, 0x03, 0xe9]);
    expect(bytes.subarray(4).toString()).toBe('idle timeout');
    expect(feed(bytes, 1).closeSeen).toBe(true);
  });

  it('cuts a long reason to fit a control frame (125 bytes at most)', () => {
    expect(closeFrame(1001, 'x'.repeat(500)).length).toBeLessThanOrEqual(127);
  });
});
