/**
 * The readdir state of one open directory: the last getdents64(2) batch
 * (struct linux_dirent64 records: u64 d_ino, s64 d_off, u16 d_reclen,
 * u8 d_type, NUL-terminated name) and a cursor over it that implements
 * DirEntries.
 *
 * A caller that stops in the middle of a batch (its reply was full) and
 * asks to continue from the cookie (d_off) of the last entry it used is
 * served from the batch; one that continues from the last entry's cookie
 * finds the directory's file position already there; only other cookies
 * cost an lseek. Cookie 0 always rereads from the start (rewinddir).
 */
import type { DirEntries } from '../../devices/fs.js';
import type { QidFolder } from './qid.js';

/** Bytes of getdents64 output one batch holds. */
export const DIR_BATCH_BYTES = 16 * 1024;
const HEADER = 19;
const decoder = new TextDecoder();

export class DirBatch implements DirEntries {
  readonly nameBytes: Uint8Array;
  readonly #view: DataView;
  /** Bytes of records in the buffer. */
  #valid = 0;
  /** The cookie the batch starts after. */
  #startHi = 0;
  #startLo = 0;
  /** The cursor: next record, and where this caller's batch ends. */
  #pos = 0;
  #end = 0;
  /** The directory's device, for folding identities. */
  readonly #devMajor: number;
  readonly #devMinor: number;
  readonly #qids: QidFolder;
  /** A getdents64 for this directory is in flight. */
  busy = false;

  type = 0;
  qidPathHi = 0;
  qidPathLo = 0;
  cookieHi = 0;
  cookieLo = 0;
  nameOffset = 0;
  nameLength = 0;

  constructor(devMajor: number, devMinor: number, qids: QidFolder) {
    this.nameBytes = new Uint8Array(DIR_BATCH_BYTES);
    this.#view = new DataView(this.nameBytes.buffer);
    this.#devMajor = devMajor;
    this.#devMinor = devMinor;
    this.#qids = qids;
  }

  /** Bytes of records held. */
  get valid(): number {
    return this.#valid;
  }

  /**
   * Where a caller continuing after cookie (hi, lo) resumes in the buffer:
   * 0 for the batch's own start cookie, the offset after the record whose
   * d_off it is (`valid` when that is the last: read on from the file
   * position), or -1 when the buffer does not know the cookie.
   */
  locate(hi: number, lo: number): number {
    if (hi === 0 && lo === 0) return -1;
    if (hi === this.#startHi && lo === this.#startLo) return 0;
    const v = this.#view;
    for (let at = 0; at < this.#valid; at += v.getUint16(at + 16, true)) {
      if (v.getUint32(at + 8, true) === lo && v.getUint32(at + 12, true) === hi) return at + v.getUint16(at + 16, true);
    }
    return -1;
  }

  /** The buffer now holds `bytes` of records read after cookie (hi, lo). */
  filled(bytes: number, hi: number, lo: number): void {
    this.#valid = bytes;
    this.#startHi = hi;
    this.#startLo = lo;
    this.begin(0, DIR_BATCH_BYTES);
  }

  /** Forgets the records (the file position is no longer after them). */
  reset(): void {
    this.#valid = 0;
    this.#startHi = 0;
    this.#startLo = 0;
  }

  /** Starts a caller's batch at buffer offset `at`: records up to about `maxBytes` (at least one). */
  begin(at: number, maxBytes: number): void {
    const v = this.#view;
    let end = at;
    while (end < this.#valid && (end === at || end - at + v.getUint16(end + 16, true) <= maxBytes)) end += v.getUint16(end + 16, true);
    this.#pos = at;
    this.#end = end;
  }

  next(): boolean {
    if (this.#pos >= this.#end) return false;
    const v = this.#view;
    const at = this.#pos;
    const reclen = v.getUint16(at + 16, true);
    this.#qids.fold(this.#devMajor, this.#devMinor, v.getUint32(at + 4, true), v.getUint32(at, true));
    this.qidPathHi = this.#qids.hi;
    this.qidPathLo = this.#qids.lo;
    this.cookieLo = v.getUint32(at + 8, true);
    this.cookieHi = v.getUint32(at + 12, true);
    this.type = v.getUint8(at + 18);
    this.nameOffset = at + HEADER;
    const nul = this.nameBytes.indexOf(0, this.nameOffset);
    const limit = at + reclen;
    this.nameLength = (nul < 0 || nul > limit ? limit : nul) - this.nameOffset;
    this.#pos = limit;
    return true;
  }

  name(): string {
    return decoder.decode(this.nameBytes.subarray(this.nameOffset, this.nameOffset + this.nameLength));
  }
}
