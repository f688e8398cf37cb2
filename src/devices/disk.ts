/**
 * The interface block devices use to reach storage. Offsets and lengths are
 * in bytes. Every method reports host I/O failures as a DiskResult instead
 * of throwing: a failing disk completes the guest's request with an error,
 * it never takes the VMM down.
 *
 * The interface lives with the devices that use it; the host side
 * (src/backends/disk) implements it, and the VMM opens it (registry.ts).
 */
import type { IoBuffers } from '../memory/io-buffers.js';
import type { IovecList } from '../memory/iovec-list.js';

export interface DiskIoError {
  /** errno name such as "EIO", or "ERANGE" / "EROFS" for requests the backend refuses. */
  code: string;
  message: string;
}

export type DiskResult = { ok: true } | { ok: false; error: DiskIoError };

export const DISK_OK: DiskResult = Object.freeze({ ok: true });

export function diskError(code: string, message: string): DiskResult {
  return { ok: false, error: { code, message } };
}

export interface DiskBackend {
  /** Size in bytes. */
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** Fills `buffers` from the disk, starting at byte `offset`. */
  readv(offset: number, buffers: IoBuffers): DiskResult;
  /** Writes `buffers` to the disk, starting at byte `offset`. */
  writev(offset: number, buffers: IoBuffers): DiskResult;
  /**
   * Optional fast path for host-mapped guest RAM: fills the host memory
   * that `iov` describes from byte `offset`, in one vectored system call
   * when it can. `iov` may be consumed (changed) by short transfers.
   */
  readIovecs?(offset: number, iov: IovecList): DiskResult;
  /** Optional fast path: writes the host memory `iov` describes at byte `offset` (see readIovecs). */
  writeIovecs?(offset: number, iov: IovecList): DiskResult;
  /** Makes completed writes durable. */
  flush(): DiskResult;
  /** Hints that [offset, offset+len) is unused; contents become unspecified. */
  discard(offset: number, len: number): DiskResult;
  /** Makes [offset, offset+len) read as zeroes, freeing space if `mayUnmap`. */
  writeZeroes(offset: number, len: number, mayUnmap: boolean): DiskResult;
  close(): void;
}
