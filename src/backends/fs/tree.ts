/**
 * HostTree: the SharedTree (devices/fs.ts) over one host directory, with
 * every object held as a descriptor and every name resolved relative to
 * one (openat2(2), statx(2) and the *at() calls with AT_EMPTY_PATH).
 *
 * How containment holds (the contract's "Containment"):
 * - a walk is openat2(dir, name, O_PATH|O_NOFOLLOW, RESOLVE_BENEATH |
 *   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS) of one component, so it
 *   cannot leave `dir` and returns a symlink as itself;
 * - '..' is the one name that leaves a directory: at the root it is the
 *   root; elsewhere the parent is opened and then climbed ('..' by '..')
 *   until the root is met (it is inside) or the host's / is (it is not:
 *   ENOENT), so a directory renamed out of the share by the host cannot be
 *   climbed out of;
 * - create, mkdir, mknod, symlink, link, rename and unlink name one
 *   component of a directory descriptor, and never follow it;
 * - an object is reopened for I/O, chmod, truncate and xattrs through
 *   /proc/self/fd/N, a path the VMM builds from its own descriptor: the
 *   kernel's magic link reaches exactly that inode (also once unlinked)
 *   and resolves no guest name. Only regular files and directories are
 *   opened (symlinks: ELOOP; device nodes, FIFOs, sockets: ENXIO), so a
 *   device node the guest makes cannot open a host device.
 *
 * Ownership: as root (euid 0), new objects are chowned to the uid/gid the
 * caller passes and setattr passes ids through; as another user, new
 * objects are that user's and chown fails as the host says (EPERM).
 * Modes are applied exactly: what the VMM's umask strips is put back.
 */
import * as sysfs from '../../sys/fs.js';
import { errnoName } from '../../sys/errors.js';
import type { IovecList } from '../../memory/iovec-list.js';
import {
  type ByteRangeLock, type DirEntries, type FileAttr, FsError, type FsStats, LockType, type SetAttr, SetAttrMask,
  type SharedTree, type SharedTreeOptions, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, TIME_NOW,
} from '../../devices/fs.js';
import { fillAttr, fillStats, sameObject, statxDev, statxMode, statxSize } from './attr.js';
import { DirBatch } from './dirents.js';
import { EBADF, HandleKind, HandleTable } from './handles.js';
import { IoPool } from './io-pool.js';
import { isUserXattr, nameError, XATTR_SIZE_MAX } from './names.js';
import { QidFolder } from './qid.js';

const E = { EPERM: 1, ENOENT: 2, EAGAIN: 11, EACCES: 13, EEXIST: 17, ENOTDIR: 20, EINVAL: 22, EROFS: 30, ERANGE: 34, ENODATA: 61, EOPNOTSUPP: 95, ENXIO: 6, ELOOP: 40, EBUSY: 16, EISDIR: 21 } as const;

/** Resolution flags of every walk and create: one component, beneath its directory, no links followed. */
const RESOLVE_ONE = sysfs.RESOLVE_BENEATH | sysfs.RESOLVE_NO_MAGICLINKS | sysfs.RESOLVE_NO_SYMLINKS;
/** open(2) flags a guest may pass to open/create. */
const OPEN_FLAGS_KEPT = sysfs.O_ACCMODE | sysfs.O_APPEND | sysfs.O_TRUNC | sysfs.O_DIRECTORY | sysfs.O_SYNC | sysfs.O_DSYNC | sysfs.O_EXCL | sysfs.O_LARGEFILE;
/** Deepest directory climb when checking a '..' (longer chains fail with ENOENT). */
const MAX_CLIMB = 4096;
/** Open directories that keep a readdir batch; the least recently read beyond it loses its batch. */
const MAX_DIR_BATCHES = 256;
const DEFAULT_MAX_HANDLES = 16384;

function fail(op: string, ret: number): never {
  throw new FsError(op, -ret, errnoName(-ret));
}

function failed(op: string, ret: number): Promise<never> {
  return Promise.reject(new FsError(op, -ret, errnoName(-ret)));
}

/** Stores a safe integer as a little-endian s64 (no BigInt). */
function setS64(v: DataView, at: number, value: number): void {
  v.setUint32(at, value >>> 0, true);
  v.setInt32(at + 4, Math.floor(value / 0x1_0000_0000), true);
}

function procPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

export class HostTree implements SharedTree {
  readonly readOnly: boolean;
  readonly hostPath: string;
  readonly #handles: HandleTable;
  readonly #pool: IoPool;
  readonly #qids = new QidFolder();
  readonly #rootFd: number;
  readonly #isRoot = sysfs.geteuid() === 0;
  readonly #umask: number;
  /** Scratch statx buffers (calls on this thread never overlap). */
  readonly #stx = new Uint8Array(sysfs.STATX_SIZE_BYTES);
  readonly #stxView = new DataView(this.#stx.buffer);
  readonly #stx2 = new Uint8Array(sysfs.STATX_SIZE_BYTES);
  readonly #stx2View = new DataView(this.#stx2.buffer);
  readonly #rootStx = new Uint8Array(sysfs.STATX_SIZE_BYTES);
  readonly #rootStxView = new DataView(this.#rootStx.buffer);
  readonly #statfs = new Uint8Array(sysfs.STATFS_SIZE);
  readonly #statfsView = new DataView(this.#statfs.buffer);
  readonly #flock = new Uint8Array(sysfs.FLOCK_SIZE);
  readonly #flockView = new DataView(this.#flock.buffer);
  readonly #times = new Uint8Array(32);
  readonly #timesView = new DataView(this.#times.buffer);
  readonly #link = new Uint8Array(4096);
  /** Readdir batches by handle, least recently read first. */
  readonly #batches = new Map<number, DirBatch>();
  #disposed = false;

  private constructor(hostPath: string, rootFd: number, options: SharedTreeOptions) {
    this.hostPath = hostPath;
    this.readOnly = options.readOnly;
    this.#rootFd = rootFd;
    this.#handles = new HandleTable(options.maxHandles ?? DEFAULT_MAX_HANDLES);
    this.#pool = new IoPool(options.ioThreads ?? 2);
    this.#umask = process.umask();
    const ret = sysfs.statx(rootFd, '', sysfs.AT_EMPTY_PATH, sysfs.STATX_BASIC_STATS, this.#rootStx);
    if (ret < 0) fail('statx', ret);
    // The share's own device gets index 0: its objects keep their inode numbers.
    const [major, minor] = statxDev(this.#rootStxView);
    this.#qids.fold(major, minor, 0, 0);
  }

  /** Opens the tree; throws FsError (ENOENT, ENOTDIR, EACCES) when `hostPath` cannot be exported. */
  static open(options: SharedTreeOptions): HostTree {
    const fd = sysfs.openPath(options.hostPath, sysfs.O_PATH | sysfs.O_DIRECTORY);
    if (fd < 0) fail('open', fd);
    return new HostTree(options.hostPath, fd, options);
  }

  /** I/O threads started so far (they start on first need). */
  get ioThreads(): number {
    return this.#pool.threads;
  }

  /** Handles open now. */
  get openHandles(): number {
    return this.#handles.open;
  }

  #fd(op: string, h: number, kind = 0): number {
    const fd = this.#disposed ? -EBADF : this.#handles.fd(h, kind);
    if (fd < 0) fail(op, fd);
    return fd;
  }

  #add(op: string, fd: number, kind: number, flags = 0): number {
    const h = this.#handles.add(fd, kind, flags);
    if (h < 0) {
      sysfs.close(fd);
      fail(op, h);
    }
    return h;
  }

  #checkName(op: string, name: string, dots = false): void {
    const err = nameError(name, dots);
    if (err !== 0) fail(op, -err);
  }

  #writable(op: string): void {
    if (this.readOnly) fail(op, -E.EROFS);
  }

  /** statx of descriptor `fd` into `buf`. */
  #statFd(op: string, fd: number, buf: Uint8Array, mask = sysfs.STATX_BASIC_STATS): void {
    const ret = sysfs.statx(fd, '', sysfs.AT_EMPTY_PATH, mask, buf);
    if (ret < 0) fail(op, ret);
  }

  root(): number {
    if (this.#disposed) fail('attach', -EBADF);
    const fd = sysfs.dupCloexec(this.#rootFd);
    if (fd < 0) fail('attach', fd);
    return this.#add('attach', fd, HandleKind.PATH);
  }

  clone(handle: number): number {
    const fd = this.#fd('clone', handle);
    // A file handle's path handle: the same inode reopened O_PATH through its magic link.
    const dup = this.#handles.kinds[handle] === HandleKind.PATH ? sysfs.dupCloexec(fd) : sysfs.openPath(procPath(fd), sysfs.O_PATH);
    if (dup < 0) fail('clone', dup);
    return this.#add('clone', dup, HandleKind.PATH);
  }

  close(handle: number): void {
    this.#batches.delete(handle);
    const fd = this.#handles.remove(handle);
    if (fd === -EBADF) fail('close', fd);
    if (fd >= 0) sysfs.close(fd);
  }

  walk(handle: number, name: string): number {
    const dirFd = this.#fd('walk', handle);
    this.#checkName('walk', name, true);
    if (name === '.') return this.clone(handle);
    if (name === '..') return this.#add('walk', this.#parent(dirFd), HandleKind.PATH);
    const fd = sysfs.openat2(dirFd, name, sysfs.O_PATH | sysfs.O_NOFOLLOW, 0, RESOLVE_ONE);
    if (fd < 0) fail('walk', fd);
    return this.#add('walk', fd, HandleKind.PATH);
  }

  /** True when descriptor `fd` is the share's root directory. */
  #isRootFd(fd: number, buf: Uint8Array, view: DataView): boolean {
    this.#statFd('walk', fd, buf);
    return sameObject(view, this.#rootStxView);
  }

  /** An O_PATH descriptor on the parent of `dirFd`, checked to be inside the share (see the file comment). */
  #parent(dirFd: number): number {
    if (this.#isRootFd(dirFd, this.#stx, this.#stxView)) {
      const fd = sysfs.dupCloexec(this.#rootFd);
      if (fd < 0) fail('walk', fd);
      return fd;
    }
    const parent = sysfs.openat2(dirFd, '..', sysfs.O_PATH | sysfs.O_DIRECTORY, 0, sysfs.RESOLVE_NO_MAGICLINKS | sysfs.RESOLVE_NO_SYMLINKS);
    if (parent < 0) fail('walk', parent);
    let current = sysfs.dupCloexec(parent);
    try {
      if (current < 0) fail('walk', current);
      for (let depth = 0; depth < MAX_CLIMB; depth++) {
        if (this.#isRootFd(current, this.#stx, this.#stxView)) return parent;
        const up = sysfs.openat2(current, '..', sysfs.O_PATH | sysfs.O_DIRECTORY, 0, sysfs.RESOLVE_NO_MAGICLINKS | sysfs.RESOLVE_NO_SYMLINKS);
        if (up < 0) fail('walk', up);
        this.#statFd('walk', up, this.#stx2);
        sysfs.close(current);
        current = up;
        // '..' of the host's root (or of a detached directory) is itself: the climb left the share.
        if (sameObject(this.#stxView, this.#stx2View)) break;
      }
      throw new FsError('walk', E.ENOENT, 'ENOENT');
    } catch (err) {
      sysfs.close(parent);
      throw err;
    } finally {
      if (current >= 0) sysfs.close(current);
    }
  }

  getattr(handle: number, out: FileAttr): void {
    const fd = this.#fd('getattr', handle);
    this.#statFd('getattr', fd, this.#stx, sysfs.STATX_BASIC_STATS | sysfs.STATX_BTIME);
    fillAttr(this.#stxView, out, this.#qids);
  }

  setattr(handle: number, change: SetAttr): void {
    const fd = this.#fd('setattr', handle);
    const valid = change.valid;
    if (valid === 0) return;
    this.#writable('setattr');
    const isFile = this.#handles.kinds[handle] === HandleKind.FILE;
    if ((valid & (SetAttrMask.UID | SetAttrMask.GID)) !== 0) {
      const uid = (valid & SetAttrMask.UID) !== 0 ? change.uid : -1;
      const gid = (valid & SetAttrMask.GID) !== 0 ? change.gid : -1;
      const ret = sysfs.fchownat(fd, '', uid, gid, sysfs.AT_EMPTY_PATH);
      if (ret < 0) fail('chown', ret);
    }
    if ((valid & SetAttrMask.MODE) !== 0) this.#chmod(fd, isFile, change.mode & 0o7777);
    if ((valid & SetAttrMask.SIZE) !== 0) {
      if (!Number.isSafeInteger(change.size) || change.size < 0) fail('truncate', -E.EINVAL);
      const writable = isFile && (this.#handles.flags[handle]! & sysfs.O_ACCMODE) !== sysfs.O_RDONLY;
      const ret = writable ? sysfs.ftruncate(fd, change.size) : this.#viaProc(fd, (path) => sysfs.truncate(path, change.size));
      if (ret < 0) fail('truncate', ret);
    }
    if ((valid & (SetAttrMask.ATIME | SetAttrMask.MTIME)) !== 0) this.#utimes(fd, change);
  }

  /** Runs a path call on /proc/self/fd/N of a non-symlink (chmod and truncate of a symlink are not a thing). */
  #viaProc(fd: number, call: (path: string) => number): number {
    this.#statFd('setattr', fd, this.#stx, sysfs.STATX_TYPE);
    if ((statxMode(this.#stxView) & S_IFMT) === S_IFLNK) return -E.EOPNOTSUPP;
    return call(procPath(fd));
  }

  #chmod(fd: number, isFile: boolean, mode: number): void {
    const ret = isFile ? sysfs.fchmod(fd, mode) : this.#viaProc(fd, (path) => sysfs.chmod(path, mode));
    if (ret < 0) fail('chmod', ret);
  }

  #utimes(fd: number, change: SetAttr): void {
    const v = this.#timesView;
    const put = (at: number, set: boolean, sec: number, nsec: number): void => {
      const ns = !set ? sysfs.UTIME_OMIT : nsec === TIME_NOW ? sysfs.UTIME_NOW : nsec;
      if (set && ns !== sysfs.UTIME_NOW && (!Number.isSafeInteger(sec) || !Number.isInteger(ns) || ns < 0 || ns > 999_999_999)) fail('utimensat', -E.EINVAL);
      setS64(v, at, set && ns !== sysfs.UTIME_NOW ? sec : 0);
      setS64(v, at + 8, ns);
    };
    put(0, (change.valid & SetAttrMask.ATIME) !== 0, change.atimeSec, change.atimeNsec);
    put(16, (change.valid & SetAttrMask.MTIME) !== 0, change.mtimeSec, change.mtimeNsec);
    let ret = sysfs.utimensat(fd, '', this.#times, sysfs.AT_EMPTY_PATH);
    if (ret === -E.EINVAL || ret === -E.ENOENT) ret = this.#viaProc(fd, (path) => sysfs.utimensat(sysfs.AT_FDCWD, path, this.#times, 0));
    if (ret < 0) fail('utimensat', ret);
  }

  open(handle: number, flags: number): number {
    const fd = this.#fd('open', handle);
    const wanted = (flags & OPEN_FLAGS_KEPT) & ~sysfs.O_EXCL;
    if (this.readOnly && ((wanted & sysfs.O_ACCMODE) !== sysfs.O_RDONLY || (wanted & sysfs.O_TRUNC) !== 0)) fail('open', -E.EROFS);
    this.#statFd('open', fd, this.#stx, sysfs.STATX_TYPE);
    const type = statxMode(this.#stxView) & S_IFMT;
    if (type === S_IFLNK) fail('open', -E.ELOOP);
    if (type !== S_IFREG && type !== S_IFDIR) fail('open', -E.ENXIO);
    const file = sysfs.openPath(procPath(fd), wanted);
    if (file < 0) fail('open', file);
    return this.#add('open', file, HandleKind.FILE, wanted);
  }

  create(dir: number, name: string, flags: number, mode: number, uid: number, gid: number): number {
    const dirFd = this.#fd('create', dir);
    this.#checkName('create', name);
    this.#writable('create');
    const wanted = (flags & OPEN_FLAGS_KEPT & ~sysfs.O_DIRECTORY) | sysfs.O_CREAT | sysfs.O_NOFOLLOW;
    let fd = sysfs.openat2(dirFd, name, wanted | sysfs.O_EXCL, mode & 0o7777, RESOLVE_ONE);
    const created = fd >= 0;
    if (fd === -E.EEXIST && (flags & sysfs.O_EXCL) === 0) fd = this.#openExisting(dirFd, name, wanted & ~(sysfs.O_CREAT | sysfs.O_NOFOLLOW));
    if (fd < 0) fail('create', fd);
    if (created) {
      try {
        this.#own(fd, uid, gid);
        this.#exactMode(fd, mode, (m) => sysfs.fchmod(fd, m));
      } catch (err) {
        sysfs.close(fd);
        throw err;
      }
    }
    return this.#add('create', fd, HandleKind.FILE, wanted & ~(sysfs.O_CREAT | sysfs.O_EXCL));
  }

  /**
   * Opens existing regular file `name` of `dirFd` with `flags`: looked up
   * O_PATH first, so that a FIFO or device node in its place is refused
   * (ENXIO) instead of opened (a FIFO would block this thread).
   */
  #openExisting(dirFd: number, name: string, flags: number): number {
    const pathFd = sysfs.openat2(dirFd, name, sysfs.O_PATH | sysfs.O_NOFOLLOW, 0, RESOLVE_ONE);
    if (pathFd < 0) return pathFd;
    try {
      this.#statFd('create', pathFd, this.#stx, sysfs.STATX_TYPE);
      const type = statxMode(this.#stxView) & S_IFMT;
      if (type === S_IFLNK) return -E.ELOOP;
      if (type === S_IFDIR) return -E.EISDIR;
      if (type !== S_IFREG) return -E.ENXIO;
      return sysfs.openPath(procPath(pathFd), flags);
    } finally {
      sysfs.close(pathFd);
    }
  }

  /** Gives a new object the caller's ids when the VMM runs as root (see Ownership). */
  #own(fd: number, uid: number, gid: number): void {
    if (!this.#isRoot || (uid === -1 && gid === -1)) return;
    const ret = sysfs.fchownat(fd, '', uid, gid, sysfs.AT_EMPTY_PATH);
    if (ret < 0) fail('chown', ret);
  }

  /** Puts back what the umask stripped, and set-id bits a chown cleared. */
  #exactMode(fd: number, mode: number, chmod: (mode: number) => number): void {
    const want = mode & 0o7777;
    if ((want & (this.#umask | 0o6000)) === 0) return;
    this.#statFd('chmod', fd, this.#stx, sysfs.STATX_BASIC_STATS);
    const have = statxMode(this.#stxView) & 0o7777;
    const next = have | (want & (this.#umask | 0o6000));
    if (next === have) return;
    const ret = chmod(next);
    if (ret < 0) fail('chmod', ret);
  }

  /** Opens the object just made as `name` in `dirFd`, owns it, fixes its mode; returns a path handle. */
  #adopt(op: string, dirFd: number, name: string, mode: number, uid: number, gid: number): number {
    const fd = sysfs.openat2(dirFd, name, sysfs.O_PATH | sysfs.O_NOFOLLOW, 0, RESOLVE_ONE);
    if (fd < 0) fail(op, fd);
    try {
      this.#own(fd, uid, gid);
      if ((mode & S_IFMT) !== S_IFLNK) this.#exactMode(fd, mode, (m) => sysfs.chmod(procPath(fd), m));
    } catch (err) {
      sysfs.close(fd);
      throw err;
    }
    return this.#add(op, fd, HandleKind.PATH);
  }

  mkdir(dir: number, name: string, mode: number, uid: number, gid: number): number {
    const dirFd = this.#fd('mkdir', dir);
    this.#checkName('mkdir', name);
    this.#writable('mkdir');
    const ret = sysfs.mkdirat(dirFd, name, mode & 0o7777);
    if (ret < 0) fail('mkdir', ret);
    return this.#adopt('mkdir', dirFd, name, S_IFDIR | (mode & 0o7777), uid, gid);
  }

  mknod(dir: number, name: string, mode: number, rdevMajor: number, rdevMinor: number, uid: number, gid: number): number {
    const dirFd = this.#fd('mknod', dir);
    this.#checkName('mknod', name);
    this.#writable('mknod');
    const type = mode & S_IFMT;
    if (type === S_IFDIR || type === S_IFLNK) fail('mknod', -E.EINVAL);
    const ret = sysfs.mknodat(dirFd, name, mode, rdevMajor, rdevMinor);
    if (ret < 0) fail('mknod', ret);
    return this.#adopt('mknod', dirFd, name, mode, uid, gid);
  }

  symlink(dir: number, name: string, target: string, uid: number, gid: number): number {
    const dirFd = this.#fd('symlink', dir);
    this.#checkName('symlink', name);
    this.#writable('symlink');
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) fail('symlink', -E.EINVAL);
    const ret = sysfs.symlinkat(target, dirFd, name);
    if (ret < 0) fail('symlink', ret);
    return this.#adopt('symlink', dirFd, name, S_IFLNK, uid, gid);
  }

  link(target: number, dir: number, name: string): void {
    const fd = this.#fd('link', target);
    const dirFd = this.#fd('link', dir);
    this.#checkName('link', name);
    this.#writable('link');
    let ret = sysfs.linkat(fd, '', dirFd, name, sysfs.AT_EMPTY_PATH);
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it, link the descriptor's inode through its magic link.
    if (ret === -E.ENOENT || ret === -E.EPERM) {
      this.#statFd('link', fd, this.#stx, sysfs.STATX_TYPE);
      if ((statxMode(this.#stxView) & S_IFMT) === S_IFDIR) fail('link', -E.EPERM);
      ret = sysfs.linkat(sysfs.AT_FDCWD, procPath(fd), dirFd, name, sysfs.AT_SYMLINK_FOLLOW);
    }
    if (ret < 0) fail('link', ret);
  }

  readlink(handle: number): string {
    const fd = this.#fd('readlink', handle);
    const n = sysfs.readlinkat(fd, '', this.#link);
    if (n < 0) fail('readlink', n === -E.ENOENT ? -E.EINVAL : n);
    return Buffer.from(this.#link.buffer, 0, n).toString('utf8');
  }

  rename(oldDir: number, oldName: string, newDir: number, newName: string): void {
    const from = this.#fd('rename', oldDir);
    const to = this.#fd('rename', newDir);
    this.#checkName('rename', oldName);
    this.#checkName('rename', newName);
    this.#writable('rename');
    const ret = sysfs.renameat2(from, oldName, to, newName, 0);
    if (ret < 0) fail('rename', ret);
  }

  unlink(dir: number, name: string, isDir: boolean): void {
    const dirFd = this.#fd('unlink', dir);
    this.#checkName('unlink', name);
    this.#writable('unlink');
    const ret = sysfs.unlinkat(dirFd, name, isDir ? sysfs.AT_REMOVEDIR : 0);
    if (ret < 0) fail('unlink', ret);
  }

  statfs(handle: number, out: FsStats): void {
    const fd = this.#fd('statfs', handle);
    const ret = sysfs.fstatfs(fd, this.#statfs);
    if (ret < 0) fail('statfs', ret);
    fillStats(this.#statfsView, out);
  }

  read(file: number, offset: number, iov: IovecList): Promise<number> {
    const fd = this.#disposed ? -EBADF : this.#handles.fd(file, HandleKind.FILE);
    if (fd < 0) return failed('read', fd);
    if (!Number.isSafeInteger(offset) || offset < 0) return failed('read', -E.EINVAL);
    const length = iov.length;
    if (length === 0) return Promise.resolve(0);
    const n = sysfs.preadv2(fd, iov.bytes, iov.count, offset, sysfs.RWF_NOWAIT);
    if (n === length) return Promise.resolve(n);
    if (n >= 0) {
      // Short: the end of the file, or only part of it was cached.
      if (sysfs.statx(fd, '', sysfs.AT_EMPTY_PATH, sysfs.STATX_SIZE, this.#stx) >= 0 && offset + n >= statxSize(this.#stxView)) return Promise.resolve(n);
      return this.#onPool(file, 'read', n, this.#pool.preadv(fd, iov, n, offset + n));
    }
    if (n !== -E.EAGAIN && n !== -E.EOPNOTSUPP) return failed('read', n);
    return this.#onPool(file, 'read', 0, this.#pool.preadv(fd, iov, 0, offset));
  }

  write(file: number, offset: number, iov: IovecList): Promise<number> {
    const fd = this.#disposed ? -EBADF : this.#handles.fd(file, HandleKind.FILE);
    if (fd < 0) return failed('write', fd);
    if (this.readOnly) return failed('write', -E.EROFS);
    if (!Number.isSafeInteger(offset) || offset < 0) return failed('write', -E.EINVAL);
    const length = iov.length;
    if (length === 0) return Promise.resolve(0);
    let done = 0;
    if (this.#handles.noNowaitWrites[file] === 0) {
      const n = sysfs.pwritev2(fd, iov.bytes, iov.count, offset, sysfs.RWF_NOWAIT);
      if (n === length) return Promise.resolve(n);
      if (n >= 0) done = n;
      else if (n === -E.EOPNOTSUPP) this.#handles.noNowaitWrites[file] = 1;
      else if (n !== -E.EAGAIN) return failed('write', n);
    }
    return this.#writeRest(file, fd, iov, done, offset);
  }

  /** Writes the rest of `iov` from byte `done` on an I/O thread, again after short writes. */
  async #writeRest(file: number, fd: number, iov: IovecList, done: number, offset: number): Promise<number> {
    const append = (this.#handles.flags[file]! & sysfs.O_APPEND) !== 0;
    while (done < iov.length) {
      const n = await this.#onPool(file, 'write', 0, this.#pool.pwritev(fd, iov, done, append ? 0 : offset + done));
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  fsync(file: number, dataOnly: boolean): Promise<void> {
    const fd = this.#disposed ? -EBADF : this.#handles.fd(file, HandleKind.FILE);
    if (fd < 0) return failed('fsync', fd);
    return this.#onPool(file, 'fsync', 0, this.#pool.fsync(fd, dataOnly)).then(() => undefined);
  }

  /** Counts `work` as in flight on `file` until it settles; resolves to `base` + its result, or rejects with its errno. */
  #onPool(file: number, op: string, base: number, work: Promise<number>): Promise<number> {
    this.#handles.busy[file]!++;
    return work.then((ret) => {
      const fd = this.#handles.settle(file);
      if (fd >= 0) sysfs.close(fd);
      if (ret < 0) throw new FsError(op, -ret, errnoName(-ret));
      return base + ret;
    });
  }

  readdir(dir: number, cookieHi: number, cookieLo: number, maxBytes: number): Promise<DirEntries> {
    const fd = this.#disposed ? -EBADF : this.#handles.fd(dir, HandleKind.FILE);
    if (fd < 0) return failed('readdir', fd);
    let batch = this.#batches.get(dir);
    if (batch === undefined) {
      if (sysfs.statx(fd, '', sysfs.AT_EMPTY_PATH, sysfs.STATX_BASIC_STATS, this.#stx) < 0 || (statxMode(this.#stxView) & S_IFMT) !== S_IFDIR) return failed('readdir', -E.ENOTDIR);
      const [major, minor] = statxDev(this.#stxView);
      batch = new DirBatch(major, minor, this.#qids);
      this.#evictBatches();
    } else {
      this.#batches.delete(dir); // re-inserted below: most recently read
    }
    this.#batches.set(dir, batch);
    if (batch.busy) return failed('readdir', -E.EBUSY);
    const hi = cookieHi >>> 0;
    const lo = cookieLo >>> 0;
    const at = batch.locate(hi, lo);
    if (at >= 0 && at < batch.valid) {
      batch.begin(at, maxBytes);
      return Promise.resolve(batch);
    }
    if (at < 0) {
      const ret = sysfs.seekCookie(fd, hi, lo);
      if (ret < 0) return failed('readdir', ret);
    }
    batch.busy = true;
    batch.reset();
    const reading = batch;
    return this.#onPool(dir, 'readdir', 0, this.#pool.getdents(fd, reading.nameBytes)).then((n) => {
      reading.busy = false;
      reading.filled(n, hi, lo);
      reading.begin(0, maxBytes);
      return reading;
    }, (err: unknown) => {
      reading.busy = false;
      throw err;
    });
  }

  #evictBatches(): void {
    if (this.#batches.size < MAX_DIR_BATCHES) return;
    for (const [h, b] of this.#batches) {
      if (b.busy) continue;
      this.#batches.delete(h);
      return;
    }
  }

  #lockFd(op: string, file: number, lock: ByteRangeLock, cmd: number): number {
    const fd = this.#fd(op, file, HandleKind.FILE);
    if (lock.type !== LockType.READ && lock.type !== LockType.WRITE && lock.type !== LockType.UNLOCK) fail(op, -E.EINVAL);
    if (!Number.isSafeInteger(lock.start) || lock.start < 0 || !Number.isSafeInteger(lock.length) || lock.length < 0) fail(op, -E.EINVAL);
    const v = this.#flockView;
    this.#flock.fill(0);
    v.setInt16(0, lock.type, true);
    v.setInt16(2, sysfs.SEEK_SET, true);
    setS64(v, 8, lock.start);
    setS64(v, 16, lock.length);
    return sysfs.fcntlLock(fd, cmd, this.#flock);
  }

  lock(file: number, lock: ByteRangeLock): boolean {
    if (this.readOnly && lock.type === LockType.WRITE) fail('lock', -E.EROFS);
    const ret = this.#lockFd('lock', file, lock, sysfs.F_OFD_SETLK);
    if (ret === -E.EAGAIN || ret === -E.EACCES) return false;
    if (ret < 0) fail('lock', ret);
    return true;
  }

  getlock(file: number, lock: ByteRangeLock): void {
    if (lock.type === LockType.UNLOCK) fail('getlock', -E.EINVAL);
    const ret = this.#lockFd('getlock', file, lock, sysfs.F_OFD_GETLK);
    if (ret < 0) fail('getlock', ret);
    const v = this.#flockView;
    lock.type = v.getInt16(0, true) as LockType;
    if (lock.type !== LockType.UNLOCK) {
      lock.start = v.getInt32(12, true) * 0x1_0000_0000 + v.getUint32(8, true);
      lock.length = v.getInt32(20, true) * 0x1_0000_0000 + v.getUint32(16, true);
    }
  }

  /** /proc/self/fd/N of a handle, for the xattr calls (sys/fs.ts says why). */
  #xattrPath(op: string, handle: number): string {
    return procPath(this.#fd(op, handle));
  }

  xattrGet(handle: number, name: string): Uint8Array {
    const path = this.#xattrPath('xattrGet', handle);
    if (!isUserXattr(name)) fail('xattrGet', -E.ENODATA);
    for (let attempt = 0; attempt < 4; attempt++) {
      const size = sysfs.getxattr(path, name, null);
      if (size < 0) fail('xattrGet', size);
      const value = new Uint8Array(Math.min(size, XATTR_SIZE_MAX));
      const n = sysfs.getxattr(path, name, value);
      if (n >= 0) return value.subarray(0, n);
      if (n !== -E.ERANGE) fail('xattrGet', n); // ERANGE: it grew meanwhile; ask again
    }
    fail('xattrGet', -E.ERANGE);
  }

  xattrList(handle: number): Uint8Array {
    const path = this.#xattrPath('xattrList', handle);
    let list: Uint8Array;
    for (let attempt = 0; ; attempt++) {
      const size = sysfs.listxattr(path, null);
      if (size < 0) fail('xattrList', size);
      list = new Uint8Array(size);
      const n = size === 0 ? 0 : sysfs.listxattr(path, list);
      if (n >= 0) {
        list = list.subarray(0, n);
        break;
      }
      if (n !== -E.ERANGE || attempt >= 3) fail('xattrList', n);
    }
    // Keep the user.* names: the only namespace the layer serves.
    const out = new Uint8Array(list.length);
    let length = 0;
    for (let start = 0; start < list.length;) {
      let end = list.indexOf(0, start);
      if (end < 0) end = list.length;
      if (end - start > 5 && Buffer.from(list.buffer, list.byteOffset + start, 5).toString('latin1') === 'user.') {
        out.set(list.subarray(start, end), length);
        length += end - start;
        out[length++] = 0;
      }
      start = end + 1;
    }
    return out.subarray(0, length);
  }

  xattrSet(handle: number, name: string, value: Uint8Array, flags: number): void {
    const path = this.#xattrPath('xattrSet', handle);
    this.#writable('xattrSet');
    if (!isUserXattr(name)) fail('xattrSet', -E.EOPNOTSUPP);
    if (value.byteLength > XATTR_SIZE_MAX) fail('xattrSet', -E.ERANGE);
    if (flags !== 0 && flags !== 1 && flags !== 2) fail('xattrSet', -E.EINVAL);
    const ret = sysfs.setxattr(path, name, value, flags);
    if (ret < 0) fail('xattrSet', ret);
  }

  xattrRemove(handle: number, name: string): void {
    const path = this.#xattrPath('xattrRemove', handle);
    this.#writable('xattrRemove');
    if (!isUserXattr(name)) fail('xattrRemove', -E.EOPNOTSUPP);
    const ret = sysfs.removexattr(path, name);
    if (ret < 0) fail('xattrRemove', ret);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#batches.clear();
    for (const h of [...this.#handles.all()]) {
      const fd = this.#handles.remove(h);
      if (fd >= 0) sysfs.close(fd);
    }
    // Closed handles with I/O in flight close their descriptors as it settles.
    await this.#pool.close();
    sysfs.close(this.#rootFd);
  }
}
