/**
 * Rreaddir's data: directory entries qid[13] offset[8] type[1] name[s]
 * (9P2000.L Treaddir), packed back to back. `offset` is the cookie a later
 * Treaddir passes to continue after this entry; `type` is the dirent
 * d_type (DT_DIR = 4, DT_REG = 8, ...).
 */
import { NinePWireError } from './errors.js';
import { QID_SIZE, type Qid } from './messages.js';
import { decodeUtf8, readQid, readU16, readU32, stringProblem, writeQid, writeString, writeU32 } from './primitives.js';

/** Bytes of an entry before its name's bytes. */
export const DIRENT_FIXED_SIZE = QID_SIZE + 8 + 1 + 2;

export interface Dirent {
  qid: Qid;
  /** The cookie (opaque 64 bits) as halves. */
  offsetLo: number;
  offsetHi: number;
  dtype: number;
  name: string;
}

/**
 * Appends one entry at `p` in `out`, below `limit`; returns the position
 * after it, or -1 (nothing written that matters) when it does not fit.
 */
export function writeDirent(out: Uint8Array, p: number, limit: number, qid: Qid, offsetLo: number, offsetHi: number, dtype: number, name: string): number {
  if (p + DIRENT_FIXED_SIZE > limit) return -1;
  const end = writeString(out, p + QID_SIZE + 9, limit, name);
  if (end < 0) return -1;
  writeQid(out, p, qid);
  writeU32(out, p + QID_SIZE, offsetLo);
  writeU32(out, p + QID_SIZE + 4, offsetHi);
  out[p + QID_SIZE + 8] = dtype;
  return end;
}

/** Decodes Rreaddir data (client side); a malformed entry is an error, never a throw. */
export function decodeDirents(data: Uint8Array): Dirent[] | NinePWireError {
  const out: Dirent[] = [];
  let p = 0;
  while (p < data.length) {
    if (p + DIRENT_FIXED_SIZE > data.length) return new NinePWireError('ERR_9P_TRUNCATED', `directory entry at ${p} truncated`);
    const len = readU16(data, p + DIRENT_FIXED_SIZE - 2);
    const start = p + DIRENT_FIXED_SIZE;
    if (start + len > data.length) return new NinePWireError('ERR_9P_TRUNCATED', `directory entry name at ${start} truncated`);
    const problem = stringProblem(data, start, len, true);
    const name = problem === null ? decodeUtf8(data, start, len) : null;
    if (name === null) return new NinePWireError(problem ?? 'ERR_9P_BAD_STRING', `directory entry name at ${start} is not a valid name`);
    out.push({ qid: readQid(data, p), offsetLo: readU32(data, p + QID_SIZE), offsetHi: readU32(data, p + QID_SIZE + 4), dtype: data[p + QID_SIZE + 8]!, name });
    p = start + len;
  }
  return out;
}

/**
 * As writeDirent, with the name as raw bytes `name[nameOffset, +nameLength)`
 * (a host directory buffer), copied as they are.
 */
export function writeDirentBytes(
  out: Uint8Array, p: number, limit: number, qid: Qid, offsetLo: number, offsetHi: number, dtype: number,
  name: Uint8Array, nameOffset: number, nameLength: number,
): number {
  const end = p + DIRENT_FIXED_SIZE + nameLength;
  if (end > limit || nameLength > 0xffff) return -1;
  writeQid(out, p, qid);
  writeU32(out, p + QID_SIZE, offsetLo);
  writeU32(out, p + QID_SIZE + 4, offsetHi);
  out[p + QID_SIZE + 8] = dtype;
  out[p + QID_SIZE + 9] = nameLength;
  out[p + QID_SIZE + 10] = nameLength >>> 8;
  out.set(name.subarray(nameOffset, nameOffset + nameLength), p + DIRENT_FIXED_SIZE);
  return end;
}
