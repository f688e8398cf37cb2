/**
 * A raw disk image: a regular file or a host block device used byte for
 * byte. Guest buffers go straight to the kernel: preadv/pwritev on the
 * host addresses of guest RAM (no copy), or plain pread/pwrite into the
 * views of buffer-backed test memory. Discard and write-zeroes use
 * fallocate(2) (punch hole / zero range) where the filesystem supports it.
 */
import * as fs from 'node:fs';
import * as sys from '../../sys/libc.js';
import { SysError } from '../../sys/errors.js';
import { TkvmError } from '../../util/errors.js';
import { encodeIovecs, IOV_MAX, type IoBuffers, sliceRanges } from '../../memory/io-buffers.js';
import type { IovecList } from '../../memory/iovec-list.js';
import { DISK_OK, type DiskBackend, diskError, type DiskResult } from '../../devices/disk.js';

/** BLKGETSIZE64 = _IOR(0x12, 114, size_t): a block device's size in bytes. */
const BLKGETSIZE64 = 0x80081272;
/** Write-zeroes fallback: zeroes written per pwrite when fallocate cannot. */
const ZERO_CHUNK = 1 << 20;

export interface RawDiskOptions {
  readOnly?: boolean;
  /**
   * The disk this one replaces (a drive given a new file while the VM
   * runs). When `path` is the very file it has open (same device and
   * inode), its descriptor, and with it the image lock, moves to the new
   * RawDisk with the size read again, and `replacing` is left closed: a
   * second open would find the file locked by this process.
   */
  replacing?: RawDisk;
}

export class RawDisk implements DiskBackend {
  readonly path: string;
  readonly readOnly: boolean;
  readonly sizeBytes: number;
  readonly isBlockDevice: boolean;
  #fd: number;

  private constructor(path: string, fd: number, readOnly: boolean, sizeBytes: number, isBlockDevice: boolean) {
    this.path = path;
    this.#fd = fd;
    this.readOnly = readOnly;
    this.sizeBytes = sizeBytes;
    this.isBlockDevice = isBlockDevice;
  }

  /**
   * Opens `path` read-write (or read-only). Throws a TkvmError
   * (ERR_DISK_OPEN) with a one-line message if it cannot be used as a disk.
   */
  static open(path: string, options: RawDiskOptions = {}): RawDisk {
    const readOnly = options.readOnly ?? false;
    const replacing = options.replacing;
    if (replacing && replacing.readOnly === readOnly && replacing.#isFile(path)) return replacing.#handOver(path);
    let fd: number;
    try {
      fd = fs.openSync(path, readOnly ? 'r' : 'r+');
    } catch (err) {
      throw openError(path, (err as NodeJS.ErrnoException).code, readOnly);
    }
    try {
      lockImage(path, fd, readOnly);
      const st = fs.fstatSync(fd);
      let size: number;
      if (st.isBlockDevice()) {
        const buf = new BigUint64Array(1);
        sys.ioctlBuf(fd, BLKGETSIZE64, buf, 'BLKGETSIZE64');
        size = Number(buf[0]!);
      } else if (st.isFile()) {
        size = st.size;
      } else {
        throw new TkvmError('ERR_DISK_OPEN', `disk ${path}: not a regular file or block device`);
      }
      return new RawDisk(path, fd, readOnly, size, st.isBlockDevice());
    } catch (err) {
      fs.closeSync(fd);
      if (err instanceof TkvmError) throw err;
      throw new TkvmError('ERR_DISK_OPEN', `disk ${path}: cannot read its size (${(err as { code?: string }).code ?? String(err)})`);
    }
  }

  /** Whether `path` names the file this disk has open. */
  #isFile(path: string): boolean {
    if (this.#fd < 0) return false;
    try {
      const open = fs.fstatSync(this.#fd);
      const named = fs.statSync(path);
      return open.dev === named.dev && open.ino === named.ino;
    } catch {
      return false;
    }
  }

  /** A RawDisk on this one's descriptor with its size read again; this one ends up closed. */
  #handOver(path: string): RawDisk {
    const fd = this.#fd;
    const st = fs.fstatSync(fd);
    let size = st.size;
    if (st.isBlockDevice()) {
      const buf = new BigUint64Array(1);
      sys.ioctlBuf(fd, BLKGETSIZE64, buf, 'BLKGETSIZE64');
      size = Number(buf[0]!);
    }
    this.#fd = -1;
    return new RawDisk(path, fd, this.readOnly, size, st.isBlockDevice());
  }

  /** The open file descriptor (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }

  readv(offset: number, buffers: IoBuffers): DiskResult {
    return this.#transfer('read', offset, buffers);
  }

  writev(offset: number, buffers: IoBuffers): DiskResult {
    if (this.readOnly) return diskError('EROFS', `disk ${this.path} is read-only`);
    return this.#transfer('write', offset, buffers);
  }

  readIovecs(offset: number, iov: IovecList): DiskResult {
    return this.#transferIovecs(false, offset, iov);
  }

  writeIovecs(offset: number, iov: IovecList): DiskResult {
    if (this.readOnly) return diskError('EROFS', `disk ${this.path} is read-only`);
    return this.#transferIovecs(true, offset, iov);
  }

  flush(): DiskResult {
    if (this.readOnly) return DISK_OK;
    return this.#guard(() => fs.fdatasyncSync(this.#fd));
  }

  discard(offset: number, len: number): DiskResult {
    if (this.readOnly) return diskError('EROFS', `disk ${this.path} is read-only`);
    const range = this.#checkRange(offset, len);
    if (range) return range;
    return this.#guard(() => {
      try {
        sys.fallocate(this.#fd, sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_KEEP_SIZE, offset, len);
      } catch (err) {
        // Discard is a hint: a filesystem that cannot punch holes simply keeps the data.
        if (!isUnsupported(err)) throw err;
      }
    });
  }

  writeZeroes(offset: number, len: number, mayUnmap: boolean): DiskResult {
    if (this.readOnly) return diskError('EROFS', `disk ${this.path} is read-only`);
    const range = this.#checkRange(offset, len);
    if (range) return range;
    return this.#guard(() => {
      const modes = [sys.FALLOC_FL_ZERO_RANGE | sys.FALLOC_FL_KEEP_SIZE];
      if (mayUnmap) modes.unshift(sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_KEEP_SIZE);
      for (const mode of modes) {
        try {
          sys.fallocate(this.#fd, mode, offset, len);
          return;
        } catch (err) {
          if (!isUnsupported(err)) throw err;
        }
      }
      const zeroes = new Uint8Array(Math.min(len, ZERO_CHUNK));
      for (let done = 0; done < len;) {
        const n = Math.min(zeroes.length, len - done);
        done += fs.writeSync(this.#fd, zeroes, 0, n, offset + done);
      }
    });
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    fs.closeSync(fd);
  }

  #checkRange(offset: number, len: number): DiskResult | null {
    if (this.#fd < 0) return diskError('EBADF', `disk ${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 || offset + len > this.sizeBytes) {
      return diskError('ERANGE', `disk ${this.path}: bytes ${offset}+${len} are past the end (${this.sizeBytes})`);
    }
    return null;
  }

  #guard(action: () => void): DiskResult {
    if (this.#fd < 0) return diskError('EBADF', `disk ${this.path} is closed`);
    try {
      action();
      return DISK_OK;
    } catch (err) {
      return this.#failure(err);
    }
  }

  #failure(err: unknown): DiskResult {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    return diskError(typeof code === 'string' ? code : 'EIO', `disk ${this.path}: ${message}`);
  }

  /**
   * One preadv/pwritev for the whole list (it holds at most IOV_MAX
   * entries), resuming after short transfers. The hot path: no closure,
   * no allocation.
   */
  #transferIovecs(write: boolean, offset: number, iov: IovecList): DiskResult {
    const range = this.#checkRange(offset, iov.length);
    if (range) return range;
    const total = iov.length;
    let done = 0;
    try {
      while (done < total) {
        let n: number;
        try {
          n = write ? sys.pwritev(this.#fd, iov.bytes, iov.count, offset + done) : sys.preadv(this.#fd, iov.bytes, iov.count, offset + done);
        } catch (err) {
          if (err instanceof SysError && err.code === 'EINTR') continue;
          throw err;
        }
        if (n === 0) throw Object.assign(new Error(`unexpected end of file at byte ${offset + done}`), { code: 'EIO' });
        done += n;
        if (done < total) iov.consume(n);
      }
      return DISK_OK;
    } catch (err) {
      return this.#failure(err);
    }
  }

  #transfer(kind: 'read' | 'write', offset: number, buffers: IoBuffers): DiskResult {
    const range = this.#checkRange(offset, buffers.length);
    if (range) return range;
    return this.#guard(() => {
      if (buffers.hostRanges) this.#transferHost(kind, offset, buffers);
      else this.#transferSlices(kind, offset, buffers.slices);
    });
  }

  /** preadv/pwritev straight into guest RAM, IOV_MAX entries per call, resuming after short transfers. */
  #transferHost(kind: 'read' | 'write', offset: number, buffers: IoBuffers): void {
    const ranges = buffers.hostRanges!;
    let done = 0;
    while (done < buffers.length) {
      const batch = sliceRanges(ranges, done, IOV_MAX);
      const iov = encodeIovecs(batch);
      let n: number;
      try {
        n = kind === 'read' ? sys.preadv(this.#fd, iov, batch.length, offset + done) : sys.pwritev(this.#fd, iov, batch.length, offset + done);
      } catch (err) {
        if (err instanceof SysError && err.code === 'EINTR') continue;
        throw err;
      }
      if (n === 0) throw Object.assign(new Error(`unexpected end of file at byte ${offset + done}`), { code: 'EIO' });
      done += n;
    }
  }

  /** pread/pwrite per view: the slow path for buffer-backed memory. */
  #transferSlices(kind: 'read' | 'write', offset: number, slices: readonly Uint8Array[]): void {
    let pos = offset;
    for (const s of slices) {
      for (let done = 0; done < s.length;) {
        const n = kind === 'read' ? fs.readSync(this.#fd, s, done, s.length - done, pos + done) : fs.writeSync(this.#fd, s, done, s.length - done, pos + done);
        if (n === 0) throw Object.assign(new Error(`unexpected end of file at byte ${pos + done}`), { code: 'EIO' });
        done += n;
      }
      pos += s.length;
    }
  }
}

function isUnsupported(err: unknown): boolean {
  return err instanceof SysError && (err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUP' || err.code === 'ENOSYS' || err.code === 'EINVAL');
}

/**
 * Locks the image as QEMU does: shared for read-only, exclusive for
 * read-write, so a second VM cannot write an image another one uses.
 * flock(2) rather than QEMU's OFD fcntl locks: both belong to the open
 * file description (so two opens in one process conflict too); flock is
 * one call with no struct to marshal. Released when the fd closes.
 */
function lockImage(path: string, fd: number, readOnly: boolean): void {
  try {
    sys.flock(fd, (readOnly ? sys.LOCK_SH : sys.LOCK_EX) | sys.LOCK_NB);
  } catch (err) {
    if (err instanceof SysError && (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK')) {
      throw new TkvmError('ERR_DISK_LOCKED', `disk ${path}: locked, another process (or another disk of this VM) uses it${readOnly ? ' read-write' : ''}`);
    }
    // File systems without flock support (ENOLCK, EOPNOTSUPP): run unlocked, as QEMU does.
    if (err instanceof SysError && (err.code === 'ENOLCK' || err.code === 'EOPNOTSUPP')) return;
    throw err;
  }
}

function openError(path: string, code: string | undefined, readOnly: boolean): TkvmError {
  const why: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: readOnly ? 'permission denied' : 'permission denied (open it read-only?)',
    EPERM: 'permission denied',
    EROFS: 'on a read-only file system (open it read-only)',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent is not a directory',
    EBUSY: 'device is busy',
    ELOOP: 'too many symbolic links',
  };
  return new TkvmError('ERR_DISK_OPEN', `disk ${path}: ${why[code ?? ''] ?? `cannot open (${code ?? 'unknown error'})`}`);
}
