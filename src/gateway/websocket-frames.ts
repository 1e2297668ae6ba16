/**
 * The little of WebSocket framing (RFC 6455 5.2) the gateway needs: where the frames a
 * replica sends end, so a close frame of its own never lands inside one, and that close frame.
 * Payloads are skipped, never read or copied.
 */

/** Close codes the gateway sends: 1001 "going away" (idle, drain, shutdown). */
export type CloseCode = 1000 | 1001;

/** Longest header: 2 bytes, 8 of extended length, 4 of mask key. */
const MAX_HEADER = 14;

/**
 * Follows a byte stream of WebSocket frames: the header of each is parsed (across chunk
 * boundaries), its payload skipped. O(1) per chunk plus O(1) per frame header.
 */
export class FrameCursor {
  /** Payload bytes of the current frame not yet seen. */
  private left = 0;
  /** Header bytes seen of the next frame (0 at a frame boundary). */
  private readonly head = Buffer.alloc(MAX_HEADER);
  private headLength = 0;
  /** True once a close frame's header went by (opcode 0x8). */
  closeSeen = false;

  /** True when the stream so far ends exactly between two frames. */
  get atBoundary(): boolean {
    return this.left === 0 && this.headLength === 0;
  }

  /**
   * Moves over `chunk`. With `stop`, stops at the first frame boundary (at once when already
   * at one). Returns the bytes of `chunk` moved over.
   */
  advance(chunk: Buffer, stop = false): number {
    let at = 0;
    while (at < chunk.length) {
      if (this.left > 0) {
        const n = Math.min(this.left, chunk.length - at);
        this.left -= n;
        at += n;
        if (stop && this.left === 0) return at;
        continue;
      }
      if (stop && this.headLength === 0) return at;
      this.head[this.headLength++] = chunk[at++] ?? 0;
      const need = headerLength(this.head, this.headLength);
      if (need !== null && this.headLength === need) {
        this.left = payloadLength(this.head);
        this.headLength = 0;
        if (((this.head[0] ?? 0) & 0x0f) === 0x8) this.closeSeen = true;
        if (stop && this.left === 0) return at;
      }
    }
    return at;
  }
}

/** The full header length once its first two bytes are known; null before. */
function headerLength(head: Buffer, have: number): number | null {
  if (have < 2) return null;
  const second = head[1] ?? 0;
  const len7 = second & 0x7f;
  const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  return 2 + extended + ((second & 0x80) !== 0 ? 4 : 0);
}

/** The payload length of a complete header (a 64-bit length above 2^53 reads as a huge number: it is skipped all the same). */
function payloadLength(head: Buffer): number {
  const len7 = (head[1] ?? 0) & 0x7f;
  if (len7 === 126) return head.readUInt16BE(2);
  if (len7 === 127) return head.readUInt32BE(2) * 2 ** 32 + head.readUInt32BE(6);
  return len7;
}

/** A server-to-client close frame (unmasked) with `code` and a short reason (cut to 120 bytes). */
export function closeFrame(code: CloseCode, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 120);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88;
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}
