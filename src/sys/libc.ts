/**
 * The FFI boundary: the only module that loads koffi. Every other module
 * reaches the kernel through the small typed functions exported here.
 *
 * Pointers are bigint (koffi 3). Buffers passed as `void *` are JS typed
 * arrays, so the kernel reads and writes their memory directly.
 */
import koffi from 'koffi';
import { SysError } from './errors.js';

const libc = koffi.load('libc.so.6');
koffi.alias('ssize_t', 'int64_t');

const c = {
  open: libc.func('int open(const char *path, int flags, int mode)'),
  close: libc.func('int close(int fd)'),
  ioctlInt: libc.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
  ioctlPtr: libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
  mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
  munmap: libc.func('int munmap(void *addr, size_t len)'),
  madvise: libc.func('int madvise(void *addr, size_t len, int advice)'),
  eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
  epollCreate1: libc.func('int epoll_create1(int flags)'),
  epollCtl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  epollWait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
  read: libc.func('ssize_t read(int fd, void *buf, size_t count)'),
  write: libc.func('ssize_t write(int fd, const void *buf, size_t count)'),
  pread: libc.func('ssize_t pread(int fd, void *buf, size_t count, int64_t off)'),
  pwrite: libc.func('ssize_t pwrite(int fd, const void *buf, size_t count, int64_t off)'),
  preadv: libc.func('ssize_t preadv(int fd, void *iov, int iovcnt, int64_t off)'),
  pwritev: libc.func('ssize_t pwritev(int fd, void *iov, int iovcnt, int64_t off)'),
  getpid: libc.func('int getpid()'),
  gettid: libc.func('int gettid()'),
  tgkill: libc.func('int tgkill(int tgid, int tid, int sig)'),
  pthreadSigmask: libc.func('int pthread_sigmask(int how, void *set, void *oldset)'),
  getuid: libc.func('uint32_t getuid()'),
};

function fail(syscall: string, detail?: string): never {
  throw new SysError(syscall, koffi.errno(), detail);
}

function check(ret: number, syscall: string, detail?: string): number {
  if (ret < 0) fail(syscall, detail);
  return ret;
}

/** A pointer as returned by mmap: a bigint address. */
export type Pointer = bigint;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;

export function open(path: string, flags: number, mode = 0): number {
  return check(c.open(path, flags | O_CLOEXEC, mode) as number, 'open', path);
}

export function close(fd: number): void {
  check(c.close(fd) as number, 'close');
}

/**
 * Retries a call that a signal interrupted before it did anything (EINTR):
 * the vCPU kick signal, or a profiler's, can land on any thread.
 */
function retryOnEintr(call: () => number): number {
  for (let attempt = 0; ; attempt++) {
    const ret = call();
    if (ret >= 0 || attempt >= 100 || koffi.errno() !== EINTR) return ret;
  }
}

/** ioctl whose argument is an integer (or no argument: pass 0). Not for KVM_RUN (see ioctlFast). */
export function ioctl(fd: number, request: number, arg: number | bigint = 0, name = 'ioctl'): number {
  return check(retryOnEintr(() => c.ioctlInt(fd, request, arg) as number), name);
}

/** ioctl whose argument points at `buf`; the kernel reads and/or writes it in place. */
export function ioctlBuf(fd: number, request: number, buf: ArrayBufferView, name = 'ioctl'): number {
  return check(retryOnEintr(() => c.ioctlPtr(fd, request, buf) as number), name);
}

/**
 * ioctl returning the raw result, errno readable via lastErrno(); for hot
 * paths such as KVM_RUN where EINTR/EAGAIN are ordinary outcomes, not exceptions.
 */
export function ioctlFast(fd: number, request: number, arg: number): number {
  return c.ioctlInt(fd, request, arg) as number;
}

export function lastErrno(): number {
  return koffi.errno();
}

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MADV_DONTNEED = 4;
export const MADV_MERGEABLE = 12;
export const MADV_DONTDUMP = 16;
const MAP_FAILED = 0xffffffffffffffffn;

export function mmap(length: number, prot: number, flags: number, fd = -1, offset = 0): Pointer {
  const ptr = c.mmap(null, length, prot, flags, fd, offset) as bigint | null;
  if (ptr === null || BigInt.asUintN(64, ptr) === MAP_FAILED) fail('mmap', `${length} bytes`);
  return ptr;
}

export function munmap(ptr: Pointer, length: number): void {
  check(c.munmap(ptr, length) as number, 'munmap');
}

export function madvise(ptr: Pointer, length: number, advice: number): void {
  check(c.madvise(ptr, length, advice) as number, 'madvise');
}

/**
 * A JS ArrayBuffer over native memory, without copying. The memory must
 * outlive every view; views may be created in any thread from the same pointer.
 */
export function viewOf(ptr: Pointer, length: number): ArrayBuffer {
  return koffi.view(ptr, length);
}

/** The address of the first byte of a typed array's backing store. */
export function addressOf(buf: ArrayBufferView): Pointer {
  return koffi.address(buf);
}

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export function eventfd(initval = 0, flags = EFD_CLOEXEC): number {
  return check(c.eventfd(initval, flags) as number, 'eventfd');
}

export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;

/** struct epoll_event is packed on x86-64: u32 events, u64 data (12 bytes). */
export const EPOLL_EVENT_SIZE = 12;

export function epollCreate(): number {
  return check(c.epollCreate1(EPOLL_CLOEXEC) as number, 'epoll_create1');
}

export function epollCtl(epfd: number, op: number, fd: number, events: number, data: number): void {
  const ev = new DataView(new ArrayBuffer(EPOLL_EVENT_SIZE));
  ev.setUint32(0, events, true);
  ev.setBigUint64(4, BigInt(data), true);
  check(c.epollCtl(epfd, op, fd, ev) as number, 'epoll_ctl');
}

/**
 * Waits for events; fills `out` with (events, data) pairs and returns the
 * count. EINTR returns 0. `buf` must hold maxEvents * EPOLL_EVENT_SIZE bytes.
 */
export function epollWait(epfd: number, buf: Uint8Array, timeoutMs: number): number {
  const max = Math.floor(buf.byteLength / EPOLL_EVENT_SIZE);
  const n = c.epollWait(epfd, buf, max, timeoutMs) as number;
  if (n < 0) {
    const errno = koffi.errno();
    if (errno === EINTR) return 0;
    throw new SysError('epoll_wait', errno);
  }
  return n;
}

export const EINTR = 4;
export const EAGAIN = 11;

export function read(fd: number, buf: ArrayBufferView): number {
  return check(c.read(fd, buf, buf.byteLength) as number, 'read');
}

export function write(fd: number, buf: ArrayBufferView): number {
  return check(c.write(fd, buf, buf.byteLength) as number, 'write');
}

export function pread(fd: number, buf: ArrayBufferView, offset: number): number {
  return check(c.pread(fd, buf, buf.byteLength, offset) as number, 'pread');
}

export function pwrite(fd: number, buf: ArrayBufferView, offset: number): number {
  return check(c.pwrite(fd, buf, buf.byteLength, offset) as number, 'pwrite');
}

/**
 * Vectored I/O straight to or from native memory (e.g. guest RAM).
 * `iov` is an array of struct iovec {u64 base; u64 len} built by IoVec.
 */
export function preadv(fd: number, iov: Uint8Array, count: number, offset: number): number {
  return check(c.preadv(fd, iov, count, offset) as number, 'preadv');
}

export function pwritev(fd: number, iov: Uint8Array, count: number, offset: number): number {
  return check(c.pwritev(fd, iov, count, offset) as number, 'pwritev');
}

export function getpid(): number {
  return c.getpid() as number;
}

export function gettid(): number {
  return c.gettid() as number;
}

export function getuid(): number {
  return c.getuid() as number;
}

/** Sends `sig` to one thread of a process; ESRCH (thread gone) is not an error. */
export function tgkill(tgid: number, tid: number, sig: number): boolean {
  const ret = c.tgkill(tgid, tid, sig) as number;
  if (ret < 0) {
    const errno = koffi.errno();
    if (errno === 3) return false;
    throw new SysError('tgkill', errno);
  }
  return true;
}

export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;

/** Blocks or unblocks one signal in the calling thread (sigset_t is 128 bytes). */
export function threadSignalMask(how: number, signal: number): void {
  const set = new BigUint64Array(16);
  set[0] = 1n << BigInt(signal - 1);
  const ret = c.pthreadSigmask(how, set, null) as number;
  if (ret !== 0) throw new SysError('pthread_sigmask', ret);
}

// ---------------------------------------------------------------------------
// Appended for the disk backends (src/backends/disk/raw.ts): fallocate(2),
// used for discard (punch hole) and write-zeroes (zero range).
// ---------------------------------------------------------------------------

const fallocateFn = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');

export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** fallocate(2): allocates, punches or zeroes a byte range of a file or block device. */
export function fallocate(fd: number, mode: number, offset: number, len: number): void {
  check(fallocateFn(fd, mode, offset, len) as number, 'fallocate');
}

// ---------------------------------------------------------------------------
// Appended for the device runtime (src/devices/virtio/runtime/): a waiting
// epoll_wait that runs off the calling thread, so that a device thread can
// return to its event loop while it sleeps, and timerfds.
// ---------------------------------------------------------------------------

const timerfdCreateFn = libc.func('int timerfd_create(int clockid, int flags)');
const timerfdSettimeFn = libc.func('int timerfd_settime(int fd, int flags, void *new_value, void *old_value)');

const CLOCK_MONOTONIC = 1;
const TFD_CLOEXEC = 0o2000000;
const TFD_NONBLOCK = 0o4000;

/** A non-blocking CLOCK_MONOTONIC timerfd (timerfd_create(2)). */
export function timerfdCreate(): number {
  return check(timerfdCreateFn(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) as number, 'timerfd_create');
}

/** Arms a timerfd: first expiry after `delayMs`, then every `intervalMs` (0: once); a delay of 0 disarms it. */
export function timerfdSet(fd: number, delayMs: number, intervalMs = 0): void {
  const spec = new BigInt64Array(4);
  const ns = (ms: number): [bigint, bigint] => {
    const total = BigInt(Math.max(0, Math.round(ms * 1e6)));
    return [total / 1_000_000_000n, total % 1_000_000_000n];
  };
  [spec[0], spec[1]] = ns(intervalMs);
  // A zero it_value disarms; a positive delay too small for nanoseconds still fires.
  [spec[2], spec[3]] = ns(delayMs);
  if (delayMs > 0 && spec[2] === 0n && spec[3] === 0n) spec[3] = 1n;
  check(timerfdSettimeFn(fd, 0, spec, null) as number, 'timerfd_settime');
}

// ---------------------------------------------------------------------------
// Disk image locking (src/backends/disk/raw.ts): flock(2). flock locks
// belong to the open file description, so two opens of one image conflict
// even within one process (classic fcntl locks would not).
// ---------------------------------------------------------------------------

const flockFn = libc.func('int flock(int fd, int operation)');

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** flock(2); throws SysError (EWOULDBLOCK is code EAGAIN) when the lock is held. */
export function flock(fd: number, operation: number): void {
  check(retryOnEintr(() => flockFn(fd, operation) as number), 'flock');
}

// ---------------------------------------------------------------------------
// Networking (src/backends/net: the TAP and passt backends): vectored I/O on
// non-blocking fds with raw results (EAGAIN is an ordinary outcome on the
// hot path, so these return -errno instead of throwing, with no closure per
// call), socketpair(2) and O_NONBLOCK for passt's stream, socket(2)
// for the interface ioctls (SIOCSIFFLAGS wants a socket, not the TAP fd), and
// setns(2) so that tests can enter a network namespace they created. The
// numbers and struct ifreq live in sys/tun.ts.
// ---------------------------------------------------------------------------

const readvFn = libc.func('ssize_t readv(int fd, void *iov, int iovcnt)');
const writevFn = libc.func('ssize_t writev(int fd, const void *iov, int iovcnt)');
const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const setnsFn = libc.func('int setns(int fd, int nstype)');

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;

const socketpairFn = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const fcntlFn = libc.func('int fcntl(int fd, int cmd, int arg)');

export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const EPIPE = 32;
export const ECONNRESET = 104;
export const EMSGSIZE = 90;

/** socketpair(AF_UNIX, type | SOCK_CLOEXEC): two connected fds, both close-on-exec. */
export function socketpair(type: number): [number, number] {
  const sv = new Int32Array(2);
  check(socketpairFn(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
  return [sv[0]!, sv[1]!];
}

/** Sets O_NONBLOCK on `fd` (fcntl F_SETFL). */
export function setNonBlocking(fd: number): void {
  const flags = check(fcntlFn(fd, F_GETFL, 0) as number, 'fcntl');
  check(fcntlFn(fd, F_SETFL, flags | O_NONBLOCK) as number, 'fcntl');
}

/**
 * readv(2) on a non-blocking fd, for hot paths: returns the bytes read, or
 * -errno (EAGAIN when nothing is waiting); never throws. EINTR is retried.
 */
export function readvRaw(fd: number, iov: Uint8Array, count: number): number {
  for (let attempt = 0; ; attempt++) {
    const ret = readvFn(fd, iov, count) as number;
    if (ret >= 0) return ret;
    const errno = koffi.errno();
    if (errno !== EINTR || attempt >= 100) return -errno;
  }
}

/** writev(2) like readvRaw: bytes written, or -errno (EAGAIN when there is no room). */
export function writevRaw(fd: number, iov: Uint8Array, count: number): number {
  for (let attempt = 0; ; attempt++) {
    const ret = writevFn(fd, iov, count) as number;
    if (ret >= 0) return ret;
    const errno = koffi.errno();
    if (errno !== EINTR || attempt >= 100) return -errno;
  }
}

/** socket(2), close-on-exec. */
export function socket(domain: number, type: number, protocol = 0): number {
  return check(socketFn(domain, type | SOCK_CLOEXEC, protocol) as number, 'socket');
}

/**
 * setns(2): moves the calling thread (only it) into the namespace `fd`
 * refers to (e.g. an open /run/netns/NAME with CLONE_NEWNET).
 */
export function setns(fd: number, nstype: number): void {
  check(setnsFn(fd, nstype) as number, 'setns');
}

// ---------------------------------------------------------------------------
// Child processes (the passt backend): waitpid(2) without blocking, so that
// a helper tkvm started is reaped before tkvm goes on (or exits), and no
// zombie is left for an init that may not reap.
// ---------------------------------------------------------------------------

const waitpidFn = libc.func('int waitpid(int pid, _Out_ int *status, int options)');

export const WNOHANG = 1;
export const ECHILD = 10;

/**
 * waitpid(pid, WNOHANG): 'exited' once the child has ended and is now
 * reaped, 'running' while it runs, 'gone' when it is no child of ours
 * (already reaped: ECHILD). EINTR is retried.
 */
export function reapChild(pid: number): 'exited' | 'running' | 'gone' {
  const status = new Int32Array(1);
  const ret = retryOnEintr(() => waitpidFn(pid, status, WNOHANG) as number);
  if (ret === pid) return 'exited';
  if (ret === 0) return 'running';
  if (koffi.errno() === ECHILD) return 'gone';
  fail('waitpid', String(pid));
}
