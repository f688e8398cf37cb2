/**
 * The file-operation layer a file-sharing device serves from: `SharedTree`,
 * one exported host directory. It knows nothing of a wire protocol; the
 * virtio-9p server (9P2000.L) is its first user and a virtio-fs (FUSE)
 * server can be its second. The host side lives in src/backends/fs.
 *
 * **Handles.** Every object the guest names is a handle: a small integer
 * for a host file descriptor that the tree owns. A path handle holds an
 * O_PATH descriptor (a 9p fid after walk, a FUSE nodeid); `open` and
 * `create` return a file handle that holds a real descriptor opened with
 * the requested flags. Every call that takes a handle accepts both kinds
 * unless it says otherwise. Handles are never reused while open; `close`
 * releases one. A handle that is not open fails with EBADF.
 *
 * **Names.** Every `name` is one path component as the guest sent it: not
 * empty, no '/', no NUL, at most 255 bytes of UTF-8 (else EINVAL or
 * ENAMETOOLONG). `walk` also takes '.' (the same object) and '..' (the
 * parent; at the root it stays at the root, as 9P2000 says); every other
 * call refuses '.' and '..' with EINVAL. The tree resolves names only
 * relative to a handle's descriptor, never by building a host path.
 *
 * **Containment.** The guest can never reach outside the exported
 * directory: walks do not follow symlinks (a symlink is returned as
 * itself, and `open` refuses it with ELOOP), magic links (/proc/PID/root,
 * /proc/PID/fd/N) are refused, and '..' is checked against the root, so a
 * directory that the host renames out of the share cannot be climbed out
 * of. A handle keeps naming the object it named when it was made, even if
 * the host moves it (the same as an open descriptor on the host).
 *
 * **Read-only trees** refuse every change with EROFS: open for writing or
 * with O_TRUNC, create, setattr, mkdir, mknod, symlink, link, rename,
 * unlink, xattrSet/xattrRemove and write locks.
 *
 * **Ownership.** When the VMM runs as root, the guest's uids, gids and
 * modes are the host's (passthrough): `create`, `mkdir`, `mknod` and
 * `symlink` give the new object the uid and gid passed in, and setattr
 * chown works. As a normal user, new objects belong to that user (the
 * gid is applied when the user may), and a chown fails with EPERM exactly
 * as it would for that user on the host.
 *
 * **Errors** are `FsError`s carrying the host errno and its stable name
 * (`code`, e.g. "ENOENT"): synchronous calls throw them, asynchronous ones
 * reject with them. A 9p server answers Rlerror(errno); a FUSE server
 * answers -errno.
 *
 * **Threads.** Cheap metadata calls (walk, getattr, setattr, mkdir, ...)
 * are synchronous. Calls that may block on the host's storage (read,
 * write, fsync, readdir) return promises and run on the tree's small pool
 * of I/O threads, except that read and write first try the page cache
 * without blocking (RWF_NOWAIT) and finish on the calling thread when they
 * can. The promises settle through the calling thread's event loop; a
 * device wraps them in `DeviceRuntime.track` because they write guest RAM.
 *
 * **No allocation on hot paths:** getattr fills a caller-owned `FileAttr`,
 * read and write take an `IovecList` over guest RAM (host addresses, built
 * by the server; the tree copies no data), and readdir returns a reusable
 * cursor over the raw directory buffer. 64-bit identities (inode numbers,
 * qid paths, directory cookies) are pairs of unsigned 32-bit numbers, so
 * nothing needs BigInt.
 */
import type { IovecList } from '../memory/iovec-list.js';

/** A host error, for the guest: `errno` is the host's (Linux) value, `code` its name. */
export class FsError extends Error {
  readonly errno: number;
  /** Stable errno name such as "ENOENT" (Node's os.constants.errno). */
  readonly code: string;
  /** The operation or system call that failed. */
  readonly op: string;
  constructor(op: string, errno: number, code: string) {
    super(`${op} failed: ${code}`);
    this.name = 'FsError';
    this.op = op;
    this.errno = errno;
    this.code = code;
  }
}

/** File types as in st_mode & S_IFMT. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Directory entry types (d_type of getdents64(2)). */
export const DT_UNKNOWN = 0;
export const DT_FIFO = 1;
export const DT_CHR = 2;
export const DT_DIR = 4;
export const DT_BLK = 6;
export const DT_REG = 8;
export const DT_LNK = 10;
export const DT_SOCK = 12;

/**
 * The attributes of one object (statx(2)), filled in place by `getattr`.
 * Times are seconds and nanoseconds. Sizes and counts are exact below 2^53.
 */
export class FileAttr {
  /** File type and permission bits (st_mode). */
  mode = 0;
  uid = 0;
  gid = 0;
  nlink = 0;
  rdevMajor = 0;
  rdevMinor = 0;
  size = 0;
  blksize = 0;
  /** 512-byte blocks allocated. */
  blocks = 0;
  atimeSec = 0;
  atimeNsec = 0;
  mtimeSec = 0;
  mtimeNsec = 0;
  ctimeSec = 0;
  ctimeNsec = 0;
  /** Birth time; 0/0 when the filesystem does not record it. */
  btimeSec = 0;
  btimeNsec = 0;
  /** st_ino as two 32-bit halves. */
  inoHi = 0;
  inoLo = 0;
  devMajor = 0;
  devMinor = 0;
  /**
   * The object's identity within this tree (a 9p qid.path, a FUSE inode
   * number): st_dev folded in with st_ino, so that two objects on different
   * host filesystems below the share never get one identity. Objects on the
   * share's own filesystem get their inode number.
   */
  qidPathHi = 0;
  qidPathLo = 0;
}

/** What `setattr` changes: OR of these bits in `SetAttr.valid`. */
export const SetAttrMask = {
  MODE: 1,
  UID: 2,
  GID: 4,
  SIZE: 8,
  ATIME: 16,
  MTIME: 32,
} as const;

/** In `SetAttr.atimeNsec`/`mtimeNsec`: set the time to now (utimensat's UTIME_NOW). */
export const TIME_NOW = (1 << 30) - 1;

/**
 * A change of attributes, caller-owned and reusable. Applied in the order
 * chown, chmod (so set-id bits given with a chown survive it), truncate,
 * then times (so an explicit mtime survives the truncate); the first
 * failure stops it and is thrown.
 */
export class SetAttr {
  valid = 0;
  /** Permission bits and set-id/sticky bits (mode & 0o7777; the type bits are ignored). */
  mode = 0;
  uid = 0;
  gid = 0;
  size = 0;
  atimeSec = 0;
  /** Nanoseconds, or TIME_NOW. */
  atimeNsec = 0;
  mtimeSec = 0;
  mtimeNsec = 0;
}

/** The filesystem's statistics (statfs(2)), filled in place by `statfs`. */
export class FsStats {
  /** f_type, the filesystem's magic number. */
  type = 0;
  bsize = 0;
  blocks = 0;
  bfree = 0;
  bavail = 0;
  files = 0;
  ffree = 0;
  fsidHi = 0;
  fsidLo = 0;
  namelen = 0;
}

/** POSIX byte-range lock types (as in struct flock). */
export const LockType = { READ: 0, WRITE: 1, UNLOCK: 2 } as const;
export type LockType = (typeof LockType)[keyof typeof LockType];

/**
 * A byte-range lock: `length` 0 means to the end of the file, however it
 * grows. `getlock` fills one in place: `type` UNLOCK when nothing conflicts.
 */
export class ByteRangeLock {
  type: LockType = LockType.UNLOCK;
  start = 0;
  length = 0;
}

/**
 * One readdir batch: a cursor over entries, valid until the next readdir
 * call on the same file handle. The name is both raw bytes (for a codec to
 * copy as they are) and, on request, a string.
 */
export interface DirEntries {
  /** Moves to the next entry; false when the batch is exhausted. */
  next(): boolean;
  /** d_type (DT_* above). */
  readonly type: number;
  /** The entry's identity, folded like FileAttr.qidPath with the directory's st_dev. */
  readonly qidPathHi: number;
  readonly qidPathLo: number;
  /** The cookie to pass to readdir to continue after this entry (opaque 64 bits). */
  readonly cookieHi: number;
  readonly cookieLo: number;
  /** The buffer holding the name: bytes [nameOffset, nameOffset + nameLength). */
  readonly nameBytes: Uint8Array;
  readonly nameOffset: number;
  readonly nameLength: number;
  /** The name as a string (allocates). */
  name(): string;
}

/** Flags of xattrSet, as setxattr(2): 0, or create-only, or replace-only. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

export interface SharedTree {
  /** True when every change fails with EROFS. */
  readonly readOnly: boolean;

  /** A new path handle on the exported directory. */
  root(): number;
  /** A new path handle on `name` inside directory `handle` (symlinks are not followed). */
  walk(handle: number, name: string): number;
  /** A new handle on the same object (a path handle; a file handle gives a path handle too). */
  clone(handle: number): number;
  /** Releases a handle (and its descriptor; OFD locks held through it go with it). */
  close(handle: number): void;

  /** Fills `out` with the attributes of the object `handle` names. */
  getattr(handle: number, out: FileAttr): void;
  /** Applies `change` (see SetAttr). */
  setattr(handle: number, change: SetAttr): void;

  /**
   * Opens the object for I/O: open(2) flags (O_RDONLY/O_WRONLY/O_RDWR,
   * O_APPEND, O_TRUNC, O_DIRECTORY, O_SYNC, O_DSYNC; every other flag,
   * O_CREAT, O_EXCL, O_NOATIME, O_NONBLOCK and O_DIRECT included, is
   * ignored, and symlinks are never followed). Only
   * regular files and directories open; symlinks fail with ELOOP, device
   * nodes, FIFOs and sockets with ENXIO (the guest's kernel serves those
   * itself). Returns a new file handle; `handle` stays as it was.
   */
  open(handle: number, flags: number): number;
  /**
   * Creates and opens regular file `name` in directory `dir` (flags as for
   * `open`, plus O_EXCL; O_CREAT is implied). `mode` is applied exactly
   * (the VMM's umask does not strip it). `uid`/`gid`: see Ownership; -1
   * keeps what the host gives. Returns a new file handle.
   */
  create(dir: number, name: string, flags: number, mode: number, uid: number, gid: number): number;

  /**
   * Reads from file handle `file` at byte `offset` into the host memory
   * `iov` describes (guest RAM), as preadv(2): resolves to the bytes read,
   * short only at end of file. `iov` must not change until it settles.
   */
  read(file: number, offset: number, iov: IovecList): Promise<number>;
  /** Writes the memory `iov` describes at `offset` (O_APPEND files: at the end); resolves to the bytes written. */
  write(file: number, offset: number, iov: IovecList): Promise<number>;
  /** Flushes file handle `file` to storage (fdatasync(2) when `dataOnly`). */
  fsync(file: number, dataOnly: boolean): Promise<void>;

  /**
   * Reads directory entries of file handle `dir` (opened with `open`),
   * starting after cookie (0/0: from the start), at most about `maxBytes`
   * of them. An empty batch means the end. '.' and '..' are included.
   * Reading on from the cookie of the last entry a caller used is cheap
   * (the tree keeps the rest of a batch), so a caller may stop early.
   */
  readdir(dir: number, cookieHi: number, cookieLo: number, maxBytes: number): Promise<DirEntries>;

  /** Creates directory `name` in `dir` (mode applied exactly, sticky bit included); returns a path handle on it. */
  mkdir(dir: number, name: string, mode: number, uid: number, gid: number): number;
  /** Creates a node (mode carries the type: S_IFIFO, S_IFSOCK, S_IFREG, S_IFCHR, S_IFBLK); returns a path handle. */
  mknod(dir: number, name: string, mode: number, rdevMajor: number, rdevMinor: number, uid: number, gid: number): number;
  /** Creates symlink `name` in `dir` pointing at `target` (never followed by the tree); returns a path handle. */
  symlink(dir: number, name: string, target: string, uid: number, gid: number): number;
  /** Makes `name` in `dir` a hard link to the object `target` names. */
  link(target: number, dir: number, name: string): void;
  /** The target of the symlink `handle` names (EINVAL if it is not one). */
  readlink(handle: number): string;
  /** Renames, replacing an existing `newName` as rename(2) does. */
  rename(oldDir: number, oldName: string, newDir: number, newName: string): void;
  /** Removes `name` from `dir`: a directory (must be empty) when `isDir`, else anything else. */
  unlink(dir: number, name: string, isDir: boolean): void;
  /** Fills `out` with the statistics of the filesystem holding `handle`'s object. */
  statfs(handle: number, out: FsStats): void;

  /**
   * Sets or releases a POSIX byte-range lock on file handle `file`. The lock
   * belongs to the handle (an open file description lock, F_OFD_SETLK):
   * closing another handle on the same file does not drop it, and two
   * handles conflict with each other. Never blocks: returns false when a
   * conflicting lock is held (the caller may retry), true when done.
   */
  lock(file: number, lock: ByteRangeLock): boolean;
  /**
   * Tests whether `lock` could be placed through file handle `file`
   * (F_OFD_GETLK): leaves it describing a conflicting lock held through
   * another handle or process, or sets its type to UNLOCK.
   */
  getlock(file: number, lock: ByteRangeLock): void;

  /** The value of extended attribute `name` (ENODATA if absent; only user.* names are served). */
  xattrGet(handle: number, name: string): Uint8Array;
  /** The names of the object's user.* attributes, each ending in NUL (listxattr(2)'s format). */
  xattrList(handle: number): Uint8Array;
  /** Sets extended attribute `name` (user.* only, else EOPNOTSUPP); `flags` 0, XATTR_CREATE or XATTR_REPLACE. */
  xattrSet(handle: number, name: string, value: Uint8Array, flags: number): void;
  /** Removes extended attribute `name`. */
  xattrRemove(handle: number, name: string): void;

  /** Closes every handle and stops the I/O threads; later calls fail with EBADF. */
  dispose(): Promise<void>;
}

/** How a VMM opens a tree (src/backends/fs implements it). */
export interface SharedTreeOptions {
  /** The exported host directory. */
  hostPath: string;
  readOnly: boolean;
  /** Most handles open at once (each is a host descriptor); more fail with EMFILE. */
  maxHandles?: number;
  /** I/O threads for blocking reads, writes, fsyncs and readdirs. */
  ioThreads?: number;
}
