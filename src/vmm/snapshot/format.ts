/**
 * The snapshot state file (docs/snapshot.md, "State file"): a header, named
 * sections and a SHA-256 of everything before it.
 *
 *   0   8  magic "TKVMSNAP"
 *   8   4  format version, u32 LE (FORMAT_VERSION)
 *   12  4  section count, u32 LE
 *   16  8  body length in bytes, u64 LE (the sections)
 *   24  .. sections: name length u8, name (ASCII), payload length u32 LE, payload
 *   end 32 SHA-256 of bytes [0, 24 + body length)
 *
 * The codec knows nothing of KVM or devices: a section is a name and bytes.
 * Decoding treats the file as hostile: every length is checked against what
 * is left before it is used, names must be well formed and unique, and
 * sections are views into the input (no copies), so a decoder allocates at
 * most a few bytes per section however the file lies. Every problem is a
 * SnapshotError with a stable code.
 */
import { createHash } from 'node:crypto';
import { TkvmError } from '../../util/errors.js';

export const SNAPSHOT_MAGIC = 'TKVMSNAP';
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 24;
export const CHECKSUM_BYTES = 32;
/** Largest state file tkvm writes or reads (guest memory lives in its own file). */
export const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_SECTIONS = 4096;
export const MAX_SECTION_NAME_BYTES = 64;
const SECTION_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export type SnapshotErrorCode =
  | 'ERR_SNAPSHOT_TRUNCATED'
  | 'ERR_SNAPSHOT_NOT_A_SNAPSHOT'
  | 'ERR_SNAPSHOT_VERSION'
  | 'ERR_SNAPSHOT_CHECKSUM'
  | 'ERR_SNAPSHOT_MALFORMED'
  | 'ERR_SNAPSHOT_TOO_LARGE'
  | 'ERR_SNAPSHOT_MISMATCH'
  | 'ERR_SNAPSHOT_MISSING';

/** A snapshot that cannot be written, read or restored here; the message is one line. */
export class SnapshotError extends TkvmError {
  declare readonly code: SnapshotErrorCode;
  constructor(code: SnapshotErrorCode, message: string) {
    super(code, message);
    this.name = 'SnapshotError';
  }
}

export interface Section {
  name: string;
  payload: Uint8Array;
}

/** Encodes sections into one state file; names must be unique and well formed. */
export function encodeStateFile(sections: readonly Section[]): Uint8Array {
  if (sections.length > MAX_SECTIONS) throw new SnapshotError('ERR_SNAPSHOT_TOO_LARGE', `${sections.length} sections is more than ${MAX_SECTIONS}`);
  const seen = new Set<string>();
  let bodyBytes = 0;
  const names = sections.map((s) => {
    checkName(s.name, seen);
    const name = new TextEncoder().encode(s.name);
    bodyBytes += 1 + name.length + 4 + s.payload.length;
    return name;
  });
  const total = HEADER_BYTES + bodyBytes + CHECKSUM_BYTES;
  if (total > MAX_STATE_FILE_BYTES) throw new SnapshotError('ERR_SNAPSHOT_TOO_LARGE', `the state would take ${total} bytes, more than ${MAX_STATE_FILE_BYTES}`);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  v.setUint32(8, FORMAT_VERSION, true);
  v.setUint32(12, sections.length, true);
  v.setBigUint64(16, BigInt(bodyBytes), true);
  let at = HEADER_BYTES;
  sections.forEach((s, i) => {
    const name = names[i]!;
    out[at] = name.length;
    out.set(name, at + 1);
    at += 1 + name.length;
    v.setUint32(at, s.payload.length, true);
    out.set(s.payload, at + 4);
    at += 4 + s.payload.length;
  });
  out.set(sha256(out.subarray(0, at)), at);
  return out;
}

/**
 * Decodes a state file. Checks, in this order: length of the header, magic,
 * version, the body length against the file, the checksum, then each
 * section's framing. The payloads are views into `file`.
 */
export function decodeStateFile(file: Uint8Array): Section[] {
  if (file.length > MAX_STATE_FILE_BYTES) throw new SnapshotError('ERR_SNAPSHOT_TOO_LARGE', `the state file has ${file.length} bytes, more than ${MAX_STATE_FILE_BYTES}`);
  if (file.length < SNAPSHOT_MAGIC.length) throw truncated(`${file.length} bytes is shorter than the header`);
  const magic = new TextDecoder().decode(file.subarray(0, SNAPSHOT_MAGIC.length));
  if (magic !== SNAPSHOT_MAGIC) throw new SnapshotError('ERR_SNAPSHOT_NOT_A_SNAPSHOT', 'not a tkvm snapshot (bad magic)');
  if (file.length < HEADER_BYTES + CHECKSUM_BYTES) throw truncated(`${file.length} bytes is shorter than the header and checksum`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = v.getUint32(8, true);
  if (version !== FORMAT_VERSION) throw new SnapshotError('ERR_SNAPSHOT_VERSION', `snapshot format version ${version}; this tkvm reads version ${FORMAT_VERSION} only`);
  const count = v.getUint32(12, true);
  const bodyLength = v.getBigUint64(16, true);
  const available = BigInt(file.length - HEADER_BYTES - CHECKSUM_BYTES);
  if (bodyLength > available) throw truncated(`the header announces ${bodyLength} bytes of sections, the file holds ${available}`);
  if (bodyLength < available) throw malformed(`${available - bodyLength} bytes follow the checksum`);
  const end = HEADER_BYTES + Number(bodyLength);
  const expected = sha256(file.subarray(0, end));
  const actual = file.subarray(end, end + CHECKSUM_BYTES);
  if (!expected.every((b, i) => b === actual[i])) throw new SnapshotError('ERR_SNAPSHOT_CHECKSUM', 'the state file is corrupt (checksum mismatch)');
  if (count > MAX_SECTIONS) throw malformed(`${count} sections is more than ${MAX_SECTIONS}`);

  const sections: Section[] = [];
  const seen = new Set<string>();
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + 1 > end) throw malformed(`section ${i} starts past the end of the body`);
    const nameLength = file[at]!;
    if (nameLength === 0 || nameLength > MAX_SECTION_NAME_BYTES) throw malformed(`section ${i} has a name of ${nameLength} bytes`);
    if (at + 1 + nameLength + 4 > end) throw malformed(`section ${i} header runs past the end of the body`);
    const name = latin1(file.subarray(at + 1, at + 1 + nameLength));
    checkName(name, seen, i);
    at += 1 + nameLength;
    const length = v.getUint32(at, true);
    at += 4;
    if (length > end - at) throw malformed(`section ${name} has ${length} bytes, ${end - at} are left`);
    sections.push({ name, payload: file.subarray(at, at + length) });
    at += length;
  }
  if (at !== end) throw malformed(`${end - at} bytes after the last section`);
  return sections;
}

function checkName(name: string, seen: Set<string>, index?: number): void {
  const where = index === undefined ? `section ${JSON.stringify(name)}` : `section ${index}`;
  if (name.length === 0 || name.length > MAX_SECTION_NAME_BYTES || !SECTION_NAME.test(name)) throw malformed(`${where} has a bad name`);
  if (seen.has(name)) throw malformed(`section ${name} appears twice`);
  seen.add(name);
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function truncated(detail: string): SnapshotError {
  return new SnapshotError('ERR_SNAPSHOT_TRUNCATED', `the state file is truncated: ${detail}`);
}

export function malformed(detail: string): SnapshotError {
  return new SnapshotError('ERR_SNAPSHOT_MALFORMED', `the state file is malformed: ${detail}`);
}
