/**
 * Little-endian integer, string and qid access on byte arrays, shared by
 * the message codec (wire.ts) and the directory-entry codec (dirent.ts).
 * Integers are read byte by byte from the Uint8Array (no DataView to
 * allocate); 64-bit values are two 32-bit halves combined into a Number
 * (exact below 2^53, no BigInt). Callers bounds-check before reading; the
 * writers return -1 instead of writing past `limit`.
 */
import type { Qid } from './messages.js';

const TWO_32 = 0x1_0000_0000;

export function readU16(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}

export function readU32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** Unsigned 64-bit as a Number: exact below 2^53, the nearest double above. */
export function readU64(b: Uint8Array, p: number): number {
  return readU32(b, p + 4) * TWO_32 + readU32(b, p);
}

/** Signed (two's complement) 64-bit as a Number, exact for |value| < 2^53. */
export function readI64(b: Uint8Array, p: number): number {
  return (readU32(b, p + 4) | 0) * TWO_32 + readU32(b, p);
}

export function writeU16(b: Uint8Array, p: number, v: number): void {
  b[p] = v;
  b[p + 1] = v >>> 8;
}

export function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v;
  b[p + 1] = v >>> 8;
  b[p + 2] = v >>> 16;
  b[p + 3] = v >>> 24;
}

/**
 * Writes an integral Number as 64-bit two's complement (so both unsigned
 * values and negative signed ones, e.g. times before 1970, come out right).
 */
export function writeU64(b: Uint8Array, p: number, v: number): void {
  const hi = Math.floor(v / TWO_32);
  writeU32(b, p, v - hi * TWO_32);
  writeU32(b, p + 4, hi);
}

export function readQid(b: Uint8Array, p: number): Qid {
  return { type: b[p]!, version: readU32(b, p + 1), pathLo: readU32(b, p + 5), pathHi: readU32(b, p + 9) };
}

export function writeQid(b: Uint8Array, p: number, q: Qid): void {
  b[p] = q.type;
  writeU32(b, p + 1, q.version);
  writeU32(b, p + 5, q.pathLo);
  writeU32(b, p + 9, q.pathHi);
}

/** Why a string field was refused, or null when it is acceptable. */
export type StringProblem = 'ERR_9P_BAD_STRING' | 'ERR_9P_BAD_NAME' | null;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const SLASH = 0x2f;

/**
 * Checks the `len` bytes at `p` as a string field: no NUL, and, for a file
 * name (`name` true), not empty and no '/'. UTF-8 validity is checked when
 * the string is decoded.
 */
export function stringProblem(b: Uint8Array, p: number, len: number, name: boolean): StringProblem {
  if (name && len === 0) return 'ERR_9P_BAD_NAME';
  for (let i = p; i < p + len; i++) {
    const c = b[i]!;
    if (c === 0) return 'ERR_9P_BAD_STRING';
    if (c === SLASH && name) return 'ERR_9P_BAD_NAME';
  }
  return null;
}

/** The `len` bytes at `p` as UTF-8, or null when they are not valid UTF-8. */
export function decodeUtf8(b: Uint8Array, p: number, len: number): string | null {
  if (len <= 32) {
    // Short ASCII names (the common case) without the decoder's call overhead.
    let s = '';
    let i = p;
    for (; i < p + len; i++) {
      const c = b[i]!;
      if (c >= 0x80) break;
      s += String.fromCharCode(c);
    }
    if (i === p + len) return s;
  }
  try {
    return utf8.decode(b.subarray(p, p + len));
  } catch {
    return null;
  }
}

/**
 * Writes `s` as len[2] + UTF-8 at `p`; returns the position after it, or -1
 * when it does not fit below `limit`. Throws RangeError for a string longer
 * than 65535 bytes (a caller bug: no field the server sends can be).
 */
export function writeString(b: Uint8Array, p: number, limit: number, s: string): number {
  const start = p + 2;
  if (start > limit) return -1;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    if (start + i >= limit) return -1;
    b[start + i] = c;
  }
  let len = i;
  if (i < s.length) {
    const rest = s.slice(i);
    const { read, written } = utf8Encoder.encodeInto(rest, b.subarray(start + i, limit));
    if (read < rest.length) return -1;
    len += written;
  }
  if (len > 0xffff) throw new RangeError(`9P string of ${len} bytes, more than 65535`);
  writeU16(b, p, len);
  return start + len;
}

/** Upper bound of the bytes writeString needs for `s`. */
export function stringBound(s: string): number {
  return 2 + s.length * 3;
}
