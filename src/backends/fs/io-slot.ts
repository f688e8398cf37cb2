/**
 * The shared memory between the tree's thread and one I/O thread
 * (io-pool.ts, io-thread.ts): one request at a time, handed over through a
 * state word (Atomics.wait/notify on the I/O thread, Atomics.waitAsync on
 * the tree's).
 *
 * Layout of the SharedArrayBuffer:
 *   Int32 [0] state, [1] op, [2] fd, [3] count (iovecs, or dirent bytes), [4] flags
 *   Float64 at byte 32: offset; at byte 40: result (bytes, or -errno)
 *   byte 64: IOV_MAX struct iovec (copied from the caller's IovecList)
 *   then DIRENT_BYTES for getdents64 output
 */
import { IOV_MAX, IOVEC_SIZE } from '../../memory/io-buffers.js';

export const SlotState = { IDLE: 0, POSTED: 1, DONE: 2, STOP: 3 } as const;
export const SlotOp = { PREADV: 1, PWRITEV: 2, FSYNC: 3, FDATASYNC: 4, GETDENTS: 5 } as const;

export const IOV_AREA_OFFSET = 64;
export const IOV_AREA_BYTES = IOV_MAX * IOVEC_SIZE;
export const DIRENT_AREA_OFFSET = IOV_AREA_OFFSET + IOV_AREA_BYTES;
/** Most getdents64 bytes one request returns. */
export const DIRENT_BYTES = 64 * 1024;
export const SLOT_BYTES = DIRENT_AREA_OFFSET + DIRENT_BYTES;

/** Typed views of one slot, made once per thread. */
export class SlotViews {
  readonly ctl: Int32Array;
  readonly f64: Float64Array;
  readonly iov: Uint8Array;
  readonly iovWords: Uint32Array;
  readonly dirents: Uint8Array;
  constructor(readonly buffer: SharedArrayBuffer) {
    this.ctl = new Int32Array(buffer, 0, 8);
    this.f64 = new Float64Array(buffer, 32, 2);
    this.iov = new Uint8Array(buffer, IOV_AREA_OFFSET, IOV_AREA_BYTES);
    this.iovWords = new Uint32Array(buffer, IOV_AREA_OFFSET, IOV_AREA_BYTES / 4);
    this.dirents = new Uint8Array(buffer, DIRENT_AREA_OFFSET, DIRENT_BYTES);
  }
}
