/*
 * A chunked answer body read whole from one buffer: the fast path of ResponseParser
 * (src/gateway/upstream/response-parser.ts) for small answers.
 */
import { trimOws } from './response-head.js';

/** The bytes of CR and LF. */
export const CR = 13;
export const LF = 10;
/** The body of an answer that has none. */
export const EMPTY = Buffer.alloc(0);

/**
 * The size a chunk-size line (without its CRLF) gives: 1-12 hex digits, spaces and tabs around
 * them allowed, before any `;` extension; -1 when it gives none. Both readers of chunked
 * answers use it, so the fast path takes exactly the lines the incremental parser takes.
 */
export function chunkSizeOf(line: string): number {
  const semi = line.indexOf(';');
  const hex = trimOws(semi < 0 ? line : line.slice(0, semi));
  return /^[0-9a-fA-F]{1,12}$/.test(hex) ? parseInt(hex, 16) : -1;
}

/**
 * A chunked body complete in `buf` from `from` on, without trailers: its data (one slice, or a
 * copy of several) and the index after it. Null when incomplete or anything unusual (trailers,
 * a malformed line): the incremental parser then reads it, and throws where it must.
 */
export function wholeChunked(buf: Buffer, from: number): { body: Buffer; next: number } | null {
  const pieces: Buffer[] = [];
  let at = from;
  for (;;) {
    const lf = buf.indexOf(LF, at);
    if (lf <= at || buf[lf - 1] !== CR) return null;
    const size = chunkSizeOf(buf.toString('latin1', at, lf - 1));
    if (size < 0) return null;
    const data = lf + 1;
    if (size === 0) {
      if (buf[data] !== CR || buf[data + 1] !== LF) return null;
      const body = pieces.length === 1 ? (pieces[0] ?? EMPTY) : pieces.length === 0 ? EMPTY : Buffer.concat(pieces);
      return { body, next: data + 2 };
    }
    if (data + size + 2 > buf.length || buf[data + size] !== CR || buf[data + size + 1] !== LF) return null;
    pieces.push(buf.subarray(data, data + size));
    at = data + size + 2;
  }
}
