/**
 * The cpio "newc" format (SVR4 without CRC), as the Linux initramfs reads
 * it (Documentation/driver-api/early-userspace/buffer-format.rst, and
 * cpio(5)). Each entry is a 110-byte ASCII header, the NUL-terminated
 * name padded so that header + name is a multiple of 4 bytes, then the
 * data padded to a multiple of 4. The archive ends with an entry named
 * `TRAILER!!!`.
 *
 * The writer is deterministic: the same entries give the same bytes
 * (inode numbers are assigned in order; nothing comes from the clock).
 */

import { FileFormatError, TkvmError } from '../util/errors.js';

/** File type bits of the mode field (`S_IFMT` values of <sys/stat.h>). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export const NEWC_MAGIC = '070701';
export const NEWC_HEADER_BYTES = 110;
export const TRAILER_NAME = 'TRAILER!!!';
const FIELD_COUNT = 13;
const MAX_FIELD = 0xffff_ffff;

interface EntryCommon {
  /** Path inside the archive, e.g. `bin/sh`; a leading `/` is dropped. */
  path: string;
  /** Permission bits (0o7777); defaults: 0o755 dirs, 0o644 files, 0o777 symlinks, 0o600 devices. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default 0 (deterministic). */
  mtime?: number;
}

export type CpioEntry =
  | (EntryCommon & { type: 'directory' })
  | (EntryCommon & { type: 'file'; data: Uint8Array })
  | (EntryCommon & { type: 'symlink'; target: string })
  | (EntryCommon & { type: 'device'; kind: 'char' | 'block'; major: number; minor: number });

/** One entry as read back from an archive. */
export interface ParsedCpioEntry {
  /** Byte offset of the entry's header in the archive. */
  headerOffset: number;
  ino: number;
  /** Full mode: type bits and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  name: string;
  data: Uint8Array;
}

const align4 = (n: number): number => (n + 3) & ~3;

function checkField(value: number, what: string, path: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
    throw new TkvmError('ERR_CPIO_ENTRY', `cpio entry ${JSON.stringify(path)}: ${what} ${value} does not fit the newc format`);
  }
  return value;
}

function normalizePath(path: string): string {
  const name = path.replace(/^\/+/, '');
  if (name === '' || name.includes('\0') || name.split('/').some((part) => part === '..')) {
    throw new TkvmError('ERR_CPIO_ENTRY', `cpio entry path ${JSON.stringify(path)} is empty, contains NUL or '..'`);
  }
  return name;
}

function typeBits(entry: CpioEntry): number {
  switch (entry.type) {
    case 'directory':
      return S_IFDIR;
    case 'file':
      return S_IFREG;
    case 'symlink':
      return S_IFLNK;
    case 'device':
      return entry.kind === 'char' ? S_IFCHR : S_IFBLK;
  }
}

const DEFAULT_PERMISSIONS = { directory: 0o755, file: 0o644, symlink: 0o777, device: 0o600 } as const;

function header(fields: readonly number[]): string {
  return NEWC_MAGIC + fields.map((field) => field.toString(16).toUpperCase().padStart(8, '0')).join('');
}

/** One header + name + data, each padded to 4 bytes. */
function encodeEntry(name: string, fields: Omit<ParsedCpioEntry, 'headerOffset' | 'name' | 'data'>, data: Uint8Array): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const headerText = header([
    fields.ino,
    fields.mode,
    fields.uid,
    fields.gid,
    fields.nlink,
    fields.mtime,
    data.length,
    fields.devMajor,
    fields.devMinor,
    fields.rdevMajor,
    fields.rdevMinor,
    nameBytes.length,
    0, // check: only used by the "070702" CRC variant
  ]);
  const nameEnd = NEWC_HEADER_BYTES + nameBytes.length;
  const dataStart = align4(nameEnd);
  const out = Buffer.alloc(align4(dataStart + data.length));
  out.write(headerText, 0, 'ascii');
  nameBytes.copy(out, NEWC_HEADER_BYTES);
  out.set(data, dataStart);
  return out;
}

/** Serializes `entries` in order, followed by the trailer. Rejects duplicate paths. */
export function writeCpioNewc(entries: Iterable<CpioEntry>): Buffer {
  const chunks: Buffer[] = [];
  const seen = new Set<string>();
  let ino = 0;
  for (const entry of entries) {
    const name = normalizePath(entry.path);
    if (seen.has(name)) throw new TkvmError('ERR_CPIO_ENTRY', `cpio entry path ${JSON.stringify(name)} appears twice`);
    seen.add(name);
    ino += 1;
    const permissions = entry.mode ?? DEFAULT_PERMISSIONS[entry.type];
    if (!Number.isInteger(permissions) || permissions < 0 || permissions > 0o7777) {
      throw new TkvmError('ERR_CPIO_ENTRY', `cpio entry ${JSON.stringify(name)}: mode ${permissions} is not within 0o7777`);
    }
    const data =
      entry.type === 'file' ? entry.data : entry.type === 'symlink' ? Buffer.from(entry.target, 'utf8') : new Uint8Array(0);
    if (entry.type === 'symlink' && (entry.target === '' || entry.target.includes('\0'))) {
      throw new TkvmError('ERR_CPIO_ENTRY', `cpio symlink ${JSON.stringify(name)} has an empty target or one with NUL`);
    }
    checkField(data.length, 'size', name);
    chunks.push(
      encodeEntry(
        name,
        {
          ino,
          mode: typeBits(entry) | permissions,
          uid: checkField(entry.uid ?? 0, 'uid', name),
          gid: checkField(entry.gid ?? 0, 'gid', name),
          nlink: entry.type === 'directory' ? 2 : 1,
          mtime: checkField(entry.mtime ?? 0, 'mtime', name),
          devMajor: 0,
          devMinor: 0,
          rdevMajor: entry.type === 'device' ? checkField(entry.major, 'major', name) : 0,
          rdevMinor: entry.type === 'device' ? checkField(entry.minor, 'minor', name) : 0,
        },
        data,
      ),
    );
  }
  const zero = { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0 };
  chunks.push(encodeEntry(TRAILER_NAME, zero, new Uint8Array(0)));
  return Buffer.concat(chunks);
}

/**
 * Reads a newc archive back (up to, not including, the trailer). Checks
 * the magic, hex fields, NUL-terminated names and bounds; a malformed or
 * truncated archive is a FileFormatError, never an out-of-range read.
 */
export function parseCpioNewc(archive: Uint8Array, source = 'cpio archive'): ParsedCpioEntry[] {
  const bytes = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  const entries: ParsedCpioEntry[] = [];
  let offset = 0;
  for (;;) {
    const fail = (problem: string): never => {
      throw new FileFormatError(source, `entry at byte ${offset}: ${problem}`);
    };
    if (offset + NEWC_HEADER_BYTES > bytes.length) fail('truncated header (no TRAILER!!!)');
    if (bytes.toString('ascii', offset, offset + 6) !== NEWC_MAGIC) fail(`bad magic (want ${NEWC_MAGIC})`);
    const fields: number[] = [];
    for (let i = 0; i < FIELD_COUNT; i++) {
      const text = bytes.toString('ascii', offset + 6 + i * 8, offset + 14 + i * 8);
      if (!/^[0-9A-Fa-f]{8}$/.test(text)) fail(`header field ${i} is not 8 hex digits`);
      fields.push(parseInt(text, 16));
    }
    const [ino, mode, uid, gid, nlink, mtime, fileSize, devMajor, devMinor, rdevMajor, rdevMinor, nameSize] = fields as [
      number, number, number, number, number, number, number, number, number, number, number, number,
    ];
    const nameStart = offset + NEWC_HEADER_BYTES;
    if (nameSize < 1 || nameStart + nameSize > bytes.length) fail(`name size ${nameSize} is out of bounds`);
    if (bytes[nameStart + nameSize - 1] !== 0) fail('name is not NUL-terminated');
    const name = bytes.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = align4(nameStart + nameSize);
    if (dataStart + fileSize > bytes.length) fail(`file size ${fileSize} runs past the end of the archive`);
    if (name === TRAILER_NAME) return entries;
    entries.push({
      headerOffset: offset,
      ino,
      mode,
      uid,
      gid,
      nlink,
      mtime,
      devMajor,
      devMinor,
      rdevMajor,
      rdevMinor,
      name,
      data: bytes.subarray(dataStart, dataStart + fileSize),
    });
    offset = align4(dataStart + fileSize);
  }
}
