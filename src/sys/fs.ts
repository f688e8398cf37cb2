/**
 * The file system calls of the shared-directory layer (src/backends/fs):
 * openat2(2), statx(2) and the other *at() calls on O_PATH descriptors,
 * vectored I/O with RWF_NOWAIT, getdents64, OFD locks and xattrs.
 *
 * Every function returns the raw result: a non-negative value, or -errno.
 * None throws and none allocates beyond koffi's own string conversion, so
 * the layer turns failures into its own errors (FsError) and the hot path
 * (statx, preadv2) costs one native call. EINTR is retried.
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const SYS_openat2 = 437;

const c = {
  openat2: libc.func('syscall', 'long', ['long', 'int', 'str', 'void *', 'size_t']),
  openPath: libc.func('int open(const char *path, int flags, int mode)'),
  close: libc.func('int close(int fd)'),
  fcntlInt: libc.func('fcntl', 'int', ['int', 'int', 'int']),
  fcntlPtr: libc.func('fcntl', 'int', ['int', 'int', 'void *']),
  statx: libc.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buf)'),
  fstatfs: libc.func('int fstatfs(int fd, void *buf)'),
  fchownat: libc.func('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)'),
  fchmod: libc.func('int fchmod(int fd, uint32_t mode)'),
  chmod: libc.func('int chmod(const char *path, uint32_t mode)'),
  utimensat: libc.func('int utimensat(int dirfd, const char *path, void *times, int flags)'),
  ftruncate: libc.func('int ftruncate(int fd, int64_t length)'),
  truncate: libc.func('int truncate(const char *path, int64_t length)'),
  renameat2: libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)'),
  unlinkat: libc.func('int unlinkat(int dirfd, const char *path, int flags)'),
  mkdirat: libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
  mknodat: libc.func('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)'),
  symlinkat: libc.func('int symlinkat(const char *target, int dirfd, const char *path)'),
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
  readlinkat: libc.func('int64_t readlinkat(int dirfd, const char *path, void *buf, size_t size)'),
  getdents64: libc.func('int64_t getdents64(int fd, void *buf, size_t size)'),
  lseek: libc.func('int64_t lseek(int fd, int64_t offset, int whence)'),
  preadv2: libc.func('int64_t preadv2(int fd, void *iov, int iovcnt, int64_t offset, int flags)'),
  pwritev2: libc.func('int64_t pwritev2(int fd, void *iov, int iovcnt, int64_t offset, int flags)'),
  fsync: libc.func('int fsync(int fd)'),
  fdatasync: libc.func('int fdatasync(int fd)'),
  getxattr: libc.func('int64_t getxattr(const char *path, const char *name, void *value, size_t size)'),
  setxattr: libc.func('int setxattr(const char *path, const char *name, void *value, size_t size, int flags)'),
  listxattr: libc.func('int64_t listxattr(const char *path, void *list, size_t size)'),
  removexattr: libc.func('int removexattr(const char *path, const char *name)'),
  geteuid: libc.func('uint32_t geteuid()'),
  getegid: libc.func('uint32_t getegid()'),
};

export const EINTR = 4;
const EINTR_RETRIES = 100;

/** A call's raw return value, or -errno when it failed. */
function result(ret: number): number {
  return ret >= 0 ? ret : -koffi.errno();
}

/** The call's result, or -errno; retried while a signal interrupted it (cold paths: it takes a closure). */
function raw(call: () => number | bigint): number {
  for (let attempt = 0; ; attempt++) {
    const ret = Number(call());
    if (ret >= 0) return ret;
    const errno = koffi.errno();
    if (errno !== EINTR || attempt >= EINTR_RETRIES) return -errno;
  }
}

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_ACCMODE = 3;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const O_DIRECT = 0o40000;
export const O_LARGEFILE = 0o100000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const O_SYNC = 0o4010000;
export const O_PATH = 0o10000000;
export const O_TMPFILE = 0o20200000;

/** openat2(2) resolve flags. */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

/** struct open_how {u64 flags; u64 mode; u64 resolve}, reused (calls on one thread never overlap). */
const openHow = new Uint32Array(6);

/** openat2(2): a new close-on-exec descriptor, or -errno. */
export function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
  openHow[0] = (flags | O_CLOEXEC) >>> 0;
  openHow[1] = 0;
  openHow[2] = mode >>> 0;
  openHow[3] = 0;
  openHow[4] = resolve >>> 0;
  openHow[5] = 0;
  return raw(() => c.openat2(SYS_openat2, dirfd, path, openHow, 24) as number);
}

/** open(2) of a path the VMM built itself (never a guest name): /proc/self/fd/N. */
export function openPath(path: string, flags: number): number {
  return raw(() => c.openPath(path, flags | O_CLOEXEC, 0) as number);
}

export function close(fd: number): number {
  return Number(c.close(fd)) < 0 ? -koffi.errno() : 0;
}

export const F_DUPFD_CLOEXEC = 1030;
export const F_OFD_GETLK = 36;
export const F_OFD_SETLK = 37;

/** fcntl(fd, F_DUPFD_CLOEXEC, 0): a duplicate descriptor, or -errno. */
export function dupCloexec(fd: number): number {
  return raw(() => c.fcntlInt(fd, F_DUPFD_CLOEXEC, 0) as number);
}

/** struct flock on x86-64: short l_type, short l_whence, (pad), off_t l_start, off_t l_len, pid_t l_pid, (pad). */
export const FLOCK_SIZE = 32;

/** fcntl with a struct flock (F_OFD_SETLK, F_OFD_GETLK); `flock` is read and written in place. */
export function fcntlLock(fd: number, cmd: number, flock: Uint8Array): number {
  return raw(() => c.fcntlPtr(fd, cmd, flock) as number);
}

export const STATX_BASIC_STATS = 0x7ff;
export const STATX_BTIME = 0x800;
export const STATX_SIZE = 0x200;
export const STATX_TYPE = 0x1;
export const STATX_SIZE_BYTES = 256;

/** statx(2) into `buf` (STATX_SIZE_BYTES); with path "" and AT_EMPTY_PATH it describes `dirfd` itself. */
export function statx(dirfd: number, path: string, flags: number, mask: number, buf: Uint8Array): number {
  for (let attempt = 0; ; attempt++) {
    const ret = result(c.statx(dirfd, path, flags, mask, buf) as number);
    if (ret !== -EINTR || attempt >= EINTR_RETRIES) return ret;
  }
}

/** struct statfs on x86-64: 120 bytes. */
export const STATFS_SIZE = 120;

/** fstatfs(2); works on O_PATH descriptors. */
export function fstatfs(fd: number, buf: Uint8Array): number {
  return raw(() => c.fstatfs(fd, buf) as number);
}

/** fchownat(2); uid or gid 0xffffffff (-1) leaves that id alone. */
export function fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): number {
  return raw(() => c.fchownat(dirfd, path, uid >>> 0, gid >>> 0, flags) as number);
}

export function fchmod(fd: number, mode: number): number {
  return raw(() => c.fchmod(fd, mode) as number);
}

/** chmod(2) of a path the VMM built itself (/proc/self/fd/N). */
export function chmod(path: string, mode: number): number {
  return raw(() => c.chmod(path, mode) as number);
}

export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

/** utimensat(2) with `times` = two struct timespec {s64 sec; s64 nsec} (32 bytes). */
export function utimensat(dirfd: number, path: string | null, times: Uint8Array, flags: number): number {
  return raw(() => c.utimensat(dirfd, path, times, flags) as number);
}

export function ftruncate(fd: number, length: number): number {
  return raw(() => c.ftruncate(fd, length) as number);
}

/** truncate(2) of a path the VMM built itself (/proc/self/fd/N). */
export function truncate(path: string, length: number): number {
  return raw(() => c.truncate(path, length) as number);
}

export function renameat2(oldDirfd: number, oldName: string, newDirfd: number, newName: string, flags: number): number {
  return raw(() => c.renameat2(oldDirfd, oldName, newDirfd, newName, flags) as number);
}

export function unlinkat(dirfd: number, name: string, flags: number): number {
  return raw(() => c.unlinkat(dirfd, name, flags) as number);
}

export function mkdirat(dirfd: number, name: string, mode: number): number {
  return raw(() => c.mkdirat(dirfd, name, mode) as number);
}

/** makedev(3) for the dev_t of mknodat; exact for majors below 2^20 (the kernel's limit is 2^12). */
function makedev(major: number, minor: number): number | bigint {
  const low = ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12);
  const lowU = low >>> 0;
  if (major < 0x1000 && minor < 0x100000) return lowU;
  return (BigInt(major & 0xfffff000) << 32n) | (BigInt(minor >>> 20) << 32n) | BigInt(lowU);
}

export function mknodat(dirfd: number, name: string, mode: number, major: number, minor: number): number {
  const dev = makedev(major >>> 0, minor >>> 0);
  return raw(() => c.mknodat(dirfd, name, mode, dev) as number);
}

export function symlinkat(target: string, dirfd: number, name: string): number {
  return raw(() => c.symlinkat(target, dirfd, name) as number);
}

export function linkat(oldDirfd: number, oldPath: string, newDirfd: number, newName: string, flags: number): number {
  return raw(() => c.linkat(oldDirfd, oldPath, newDirfd, newName, flags) as number);
}

/** readlinkat(2) into `buf`: the bytes written (not NUL-terminated), or -errno. */
export function readlinkat(dirfd: number, path: string, buf: Uint8Array): number {
  return raw(() => c.readlinkat(dirfd, path, buf, buf.byteLength) as number);
}

/** getdents64(2) into the first `size` bytes of `buf`: bytes of struct linux_dirent64 records, 0 at the end. */
export function getdents64(fd: number, buf: Uint8Array, size: number): number {
  return raw(() => c.getdents64(fd, buf, Math.min(size, buf.byteLength)) as number);
}

export const SEEK_SET = 0;

/** lseek(fd, offset, SEEK_SET) for a directory cookie given as two 32-bit halves. */
export function seekCookie(fd: number, hi: number, lo: number): number {
  // Directory cookies use all 63 bits (ext4 hashes): exact only through BigInt, on this cold path.
  const offset = hi < 0x200000 ? hi * 0x1_0000_0000 + lo : BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  return raw(() => c.lseek(fd, offset, SEEK_SET) as number);
}

export const RWF_NOWAIT = 0x08;

/** preadv2(2) of `count` iovecs at `iov` (struct iovec array); flags such as RWF_NOWAIT. */
export function preadv2(fd: number, iov: Uint8Array, count: number, offset: number, flags: number): number {
  for (let attempt = 0; ; attempt++) {
    const ret = result(Number(c.preadv2(fd, iov, count, offset, flags)));
    if (ret !== -EINTR || attempt >= EINTR_RETRIES) return ret;
  }
}

export function pwritev2(fd: number, iov: Uint8Array, count: number, offset: number, flags: number): number {
  for (let attempt = 0; ; attempt++) {
    const ret = result(Number(c.pwritev2(fd, iov, count, offset, flags)));
    if (ret !== -EINTR || attempt >= EINTR_RETRIES) return ret;
  }
}

export function fsync(fd: number): number {
  return raw(() => c.fsync(fd) as number);
}

export function fdatasync(fd: number): number {
  return raw(() => c.fdatasync(fd) as number);
}

/**
 * The xattr calls take a path the VMM built itself: /proc/self/fd/N of an
 * O_PATH descriptor. The f*xattr calls refuse O_PATH descriptors (EBADF),
 * and opening the object for them would need read permission and could
 * have side effects (a device node, a FIFO); the magic link reaches the
 * descriptor's own inode without resolving any name again.
 */
export function getxattr(path: string, name: string, value: Uint8Array | null): number {
  return raw(() => c.getxattr(path, name, value, value === null ? 0 : value.byteLength) as number);
}

export function setxattr(path: string, name: string, value: Uint8Array, flags: number): number {
  return raw(() => c.setxattr(path, name, value, value.byteLength, flags) as number);
}

export function listxattr(path: string, list: Uint8Array | null): number {
  return raw(() => c.listxattr(path, list, list === null ? 0 : list.byteLength) as number);
}

export function removexattr(path: string, name: string): number {
  return raw(() => c.removexattr(path, name) as number);
}

export function geteuid(): number {
  return c.geteuid() as number;
}

export function getegid(): number {
  return c.getegid() as number;
}
