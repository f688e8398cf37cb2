/**
 * The 9P2000.L wire codec: decodes T-messages from untrusted bytes and
 * encodes R-messages (the server side), and the reverse for test clients.
 * Both directions walk the same layout table (layout.ts).
 *
 * Decoding never throws: a malformed message is a NinePWireError (stable
 * code, tag when readable). Every count is checked against the bytes
 * present before anything is allocated, so a hostile length cannot make
 * the decoder allocate more than the message's own size.
 *
 * Input form: one contiguous byte array. The device gathers a request's
 * bytes from its descriptors into a preallocated msize buffer (decoding is
 * synchronous, so one buffer per device serves every request), except
 * Twrite's data, which stays in guest RAM: `totalLength` (the size the
 * transport carried) may then exceed the bytes given, and the message
 * decodes with `data: null` when exactly its header is present. Rread and
 * Rreaddir encode the same way: `data: null` writes the header only, and
 * the device moves the bytes itself.
 */
import { NinePWireError, type NinePWireErrorCode } from './errors.js';
import { type FieldKind, type Layout, R_LAYOUTS, T_LAYOUTS } from './layout.js';
import { HEADER_SIZE, MAX_MSIZE, MAX_WALK_NAMES, MessageType, QID_SIZE, type Qid, RREAD_HEADER_SIZE, type RMessage, type TMessage } from './messages.js';
import {
  decodeUtf8, readI64, readQid, readU16, readU32, readU64, stringBound, stringProblem, writeQid, writeString, writeU16, writeU32, writeU64,
} from './primitives.js';

export interface DecodeOptions {
  /** The message's length as the transport carried it; default: all of `bytes`. */
  totalLength?: number;
  /** The negotiated msize: a larger size field is an error (default 512000). */
  maxSize?: number;
}

/** The size field of the message at the start of `bytes` (which holds at least 4 bytes). */
export function messageSize(bytes: Uint8Array): number {
  return readU32(bytes, 0);
}

/** The type byte of the message at the start of `bytes` (at least 5 bytes). */
export function messageType(bytes: Uint8Array): number {
  return bytes[4]!;
}

/** The tag of the message at the start of `bytes` (at least 7 bytes). */
export function messageTag(bytes: Uint8Array): number {
  return readU16(bytes, 5);
}

/** Decodes one request (server side). */
export function decodeTMessage(bytes: Uint8Array, options: DecodeOptions = {}): TMessage | NinePWireError {
  return decodeWith(T_LAYOUTS, bytes, options) as TMessage | NinePWireError;
}

/** Decodes one reply (client side). */
export function decodeRMessage(bytes: Uint8Array, options: DecodeOptions = {}): RMessage | NinePWireError {
  return decodeWith(R_LAYOUTS, bytes, options) as RMessage | NinePWireError;
}

/**
 * Encodes a reply into `out` (at most `out.length` bytes); returns the bytes
 * written, or -1 when the reply does not fit (the caller answers with a
 * short error reply instead). With `data: null` (Rread, Rreaddir) only the
 * header is written; its size and count fields cover `count` more bytes.
 */
export function encodeRMessage(message: RMessage, out: Uint8Array): number {
  return encodeWith(R_LAYOUTS, message, out);
}

/** Encodes a request into `out`, as encodeRMessage does (client side). */
export function encodeTMessageInto(message: TMessage, out: Uint8Array): number {
  return encodeWith(T_LAYOUTS, message, out);
}

/**
 * Encodes a request into a new array of its exact length (client side).
 * Field contents are not checked: a test client may send names with '/',
 * NULs, or counts the data does not back.
 */
export function encodeTMessage(message: TMessage): Uint8Array {
  const out = new Uint8Array(encodedBound(T_LAYOUTS, message));
  const n = encodeWith(T_LAYOUTS, message, out);
  if (n < 0) throw new RangeError(`${message.type}: encoding bound too small`);
  return out.slice(0, n);
}

/** Writes Rlerror tag[2] ecode[4] (11 bytes) at the start of `out`. */
export function writeRlerror(out: Uint8Array, tag: number, errno: number): number {
  writeU32(out, 0, HEADER_SIZE + 4);
  out[4] = MessageType.Rlerror;
  writeU16(out, 5, tag);
  writeU32(out, 7, errno);
  return HEADER_SIZE + 4;
}

/**
 * Writes the 11-byte header of an Rread or Rreaddir carrying `count` data
 * bytes (which the caller places right after it), at the start of `out`.
 */
export function writeDataReplyHeader(out: Uint8Array, type: typeof MessageType.Rread | typeof MessageType.Rreaddir, tag: number, count: number): number {
  writeU32(out, 0, RREAD_HEADER_SIZE + count);
  out[4] = type;
  writeU16(out, 5, tag);
  writeU32(out, 7, count);
  return RREAD_HEADER_SIZE;
}

// --- Decoding --------------------------------------------------------------------

/** Thrown inside the decoder, caught at its entry. */
class Malformed {
  constructor(readonly code: NinePWireErrorCode, readonly message: string) {}
}

function decodeWith(layouts: ReadonlyMap<number, Layout>, bytes: Uint8Array, options: DecodeOptions): object | NinePWireError {
  const totalLength = options.totalLength ?? bytes.length;
  const maxSize = options.maxSize ?? MAX_MSIZE;
  if (bytes.length < HEADER_SIZE) return new NinePWireError('ERR_9P_TRUNCATED', `${bytes.length} bytes, shorter than the 7-byte header`);
  const size = readU32(bytes, 0);
  const type = bytes[4]!;
  const tag = readU16(bytes, 5);
  if (size < HEADER_SIZE || size > maxSize) return new NinePWireError('ERR_9P_BAD_SIZE', `size field ${size} outside 7..${maxSize}`, tag, type);
  if (size !== totalLength) return new NinePWireError('ERR_9P_BAD_SIZE', `size field ${size}, but the message is ${totalLength} bytes`, tag, type);
  const layout = layouts.get(type);
  if (layout === undefined) return new NinePWireError('ERR_9P_UNKNOWN_TYPE', `message type ${type} not decoded here`, tag, type);
  try {
    return decodeFields(layout, bytes, Math.min(bytes.length, totalLength), totalLength, type, tag);
  } catch (err) {
    if (err instanceof Malformed) return new NinePWireError(err.code, `${err.message} (type ${type})`, tag, type);
    throw err;
  }
}

function decodeFields(layout: Layout, b: Uint8Array, end: number, totalLength: number, type: number, tag: number): object {
  const msg: Record<string, unknown> = { type, tag };
  let p = HEADER_SIZE;
  const need = (n: number, what: string) => {
    if (p + n > end) throw new Malformed('ERR_9P_TRUNCATED', `${what} needs ${n} bytes at ${p}, ${end - p} left`);
  };
  for (let f = 0; f < layout.length; f++) {
    const [field, kind] = layout[f]!;
    switch (kind) {
      case 'u8': need(1, field); msg[field] = b[p]; p += 1; break;
      case 'u16': need(2, field); msg[field] = readU16(b, p); p += 2; break;
      case 'u32': need(4, field); msg[field] = readU32(b, p); p += 4; break;
      case 'u64': need(8, field); msg[field] = readU64(b, p); p += 8; break;
      case 'i64': need(8, field); msg[field] = readI64(b, p); p += 8; break;
      case 'qid': need(QID_SIZE, field); msg[field] = readQid(b, p); p += QID_SIZE; break;
      case 'str':
      case 'name': {
        const [value, next] = readStringField(b, p, end, kind === 'name', field);
        msg[field] = value;
        p = next;
        break;
      }
      case 'names': {
        need(2, field);
        const n = readU16(b, p);
        p += 2;
        if (n > MAX_WALK_NAMES) throw new Malformed('ERR_9P_TOO_MANY_NAMES', `${n} walk names, more than ${MAX_WALK_NAMES}`);
        const names: string[] = [];
        for (let i = 0; i < n; i++) {
          const [value, next] = readStringField(b, p, end, true, `${field}[${i}]`);
          names.push(value);
          p = next;
        }
        msg[field] = names;
        break;
      }
      case 'qids': {
        need(2, field);
        const n = readU16(b, p);
        p += 2;
        if (n > MAX_WALK_NAMES) throw new Malformed('ERR_9P_TOO_MANY_NAMES', `${n} qids, more than ${MAX_WALK_NAMES}`);
        need(n * QID_SIZE, field);
        const qids: Qid[] = [];
        for (let i = 0; i < n; i++, p += QID_SIZE) qids.push(readQid(b, p));
        msg[field] = qids;
        break;
      }
      case 'data': {
        need(4, 'count');
        const count = readU32(b, p);
        p += 4;
        if (count > totalLength - p) throw new Malformed('ERR_9P_COUNT_TOO_LARGE', `count ${count}, but ${totalLength - p} bytes follow`);
        msg.count = count;
        if (end - p >= count) msg.data = b.subarray(p, p + count);
        else if (end === p) msg.data = null;
        else throw new Malformed('ERR_9P_TRUNCATED', `data of ${count} bytes, ${end - p} present`);
        p += count;
        break;
      }
      default: assertNever(kind);
    }
  }
  if (p !== totalLength) throw new Malformed('ERR_9P_BAD_SIZE', `${totalLength - p} bytes after the last field`);
  return msg;
}

function readStringField(b: Uint8Array, p: number, end: number, name: boolean, field: string): [string, number] {
  if (p + 2 > end) throw new Malformed('ERR_9P_TRUNCATED', `${field} length needs 2 bytes at ${p}, ${end - p} left`);
  const len = readU16(b, p);
  const start = p + 2;
  if (start + len > end) throw new Malformed('ERR_9P_TRUNCATED', `${field} of ${len} bytes, ${end - start} left`);
  const problem = stringProblem(b, start, len, name);
  if (problem !== null) throw new Malformed(problem, problem === 'ERR_9P_BAD_NAME' ? `${field} is not a file name (empty or holds '/')` : `${field} holds a NUL byte`);
  const value = decodeUtf8(b, start, len);
  if (value === null) throw new Malformed('ERR_9P_BAD_STRING', `${field} is not valid UTF-8`);
  return [value, start + len];
}

// --- Encoding --------------------------------------------------------------------

/** Thrown inside the encoder when the output is full. */
const FULL = Symbol('9p output full');

function encodeWith(layouts: ReadonlyMap<number, Layout>, message: TMessage | RMessage, out: Uint8Array): number {
  const layout = layouts.get(message.type);
  if (layout === undefined) throw new RangeError(`message type ${message.type} has no layout here`);
  const limit = out.length;
  if (limit < HEADER_SIZE) return -1;
  const m = message as unknown as Record<string, unknown>;
  let p = HEADER_SIZE;
  let trailing = 0;
  const room = (n: number) => {
    if (p + n > limit) throw FULL;
  };
  try {
    for (let f = 0; f < layout.length; f++) {
      const [field, kind] = layout[f]!;
      const v = m[field];
      switch (kind) {
        case 'u8': room(1); out[p] = v as number; p += 1; break;
        case 'u16': room(2); writeU16(out, p, v as number); p += 2; break;
        case 'u32': room(4); writeU32(out, p, v as number); p += 4; break;
        case 'u64':
        case 'i64': room(8); writeU64(out, p, v as number); p += 8; break;
        case 'qid': room(QID_SIZE); writeQid(out, p, v as Qid); p += QID_SIZE; break;
        case 'str':
        case 'name': p = stringOrFull(out, p, limit, v as string); break;
        case 'names': {
          const names = v as string[];
          room(2);
          writeU16(out, p, names.length);
          p += 2;
          for (const name of names) p = stringOrFull(out, p, limit, name);
          break;
        }
        case 'qids': {
          const qids = v as Qid[];
          room(2 + qids.length * QID_SIZE);
          writeU16(out, p, qids.length);
          p += 2;
          for (const q of qids) {
            writeQid(out, p, q);
            p += QID_SIZE;
          }
          break;
        }
        case 'data': {
          const data = m.data as Uint8Array | null;
          const count = data === null ? (m.count as number) : data.length;
          room(4);
          writeU32(out, p, count);
          p += 4;
          if (data === null) {
            trailing = count;
          } else {
            room(count);
            out.set(data, p);
            p += count;
          }
          break;
        }
        default: assertNever(kind);
      }
    }
  } catch (err) {
    if (err === FULL) return -1;
    throw err;
  }
  writeU32(out, 0, p + trailing);
  out[4] = message.type;
  writeU16(out, 5, message.tag);
  return p;
}

function stringOrFull(out: Uint8Array, p: number, limit: number, s: string): number {
  const next = writeString(out, p, limit, s);
  if (next < 0) throw FULL;
  return next;
}

function encodedBound(layouts: ReadonlyMap<number, Layout>, message: TMessage | RMessage): number {
  const layout = layouts.get(message.type);
  if (layout === undefined) throw new RangeError(`message type ${message.type} has no layout here`);
  const m = message as unknown as Record<string, unknown>;
  let n = HEADER_SIZE;
  for (const [field, kind] of layout) n += fieldBound(kind, m[field], m);
  return n;
}

function fieldBound(kind: FieldKind, v: unknown, m: Record<string, unknown>): number {
  switch (kind) {
    case 'u8': return 1;
    case 'u16': return 2;
    case 'u32': return 4;
    case 'u64': case 'i64': return 8;
    case 'qid': return QID_SIZE;
    case 'str': case 'name': return stringBound(v as string);
    case 'names': return (v as string[]).reduce((n, s) => n + stringBound(s), 2);
    case 'qids': return 2 + (v as Qid[]).length * QID_SIZE;
    case 'data': return 4 + ((m.data as Uint8Array | null)?.length ?? 0);
    default: return assertNever(kind);
  }
}

function assertNever(kind: never): never {
  throw new Error(`unknown field kind ${String(kind)}`);
}

