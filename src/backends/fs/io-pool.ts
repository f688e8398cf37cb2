/**
 * A small pool of I/O threads for the calls of the shared-directory layer
 * that may block on storage: preadv/pwritev into guest RAM, fsync and
 * getdents64. Each thread (io-thread.ts) serves one slot of shared memory
 * (io-slot.ts); requests beyond the free threads wait in a bounded queue.
 *
 * Why worker threads with synchronous koffi calls, not koffi's async calls
 * on libuv's pool: libuv's pool is process-wide with 4 threads, and the
 * device threads need it for fs.promises and for loading their modules
 * (runtime/sleeper.ts tells how four sleeping devices once starved it); a
 * guest with slow storage behind its share would take it from every
 * device. These threads are the layer's own, bounded, and cost no
 * per-call native work item: a request is a few stores into shared memory
 * and one Atomics.notify; its completion comes back through
 * Atomics.waitAsync. Reads and writes that the page cache can serve never
 * come here (the tree tries RWF_NOWAIT first).
 *
 * Threads start lazily, one at a time, each after the previous one has
 * loaded koffi (two threads initialising koffi at once can abort the
 * process, vmm/vcpu-workers.ts). An idle thread is unref'd, so the pool
 * never keeps a process alive.
 */
import { Worker } from 'node:worker_threads';
import type { IovecList } from '../../memory/iovec-list.js';
import { IOV_MAX } from '../../memory/io-buffers.js';
import { SLOT_BYTES, SlotOp, SlotState, SlotViews } from './io-slot.js';

const THREAD_URL = new URL('./io-thread.js', import.meta.url);
const TWO_32 = 0x1_0000_0000;
const EAGAIN = 11;
const EIO = 5;
const EINVAL = 22;
/** Requests that may wait for a thread; more fail with EAGAIN (a guest cannot queue without bound). */
export const MAX_QUEUED = 4096;

interface Request {
  op: number;
  fd: number;
  /** Source of the iovecs (PREADV/PWRITEV), the first `skip` bytes left out. */
  iov: IovecList | null;
  skip: number;
  offset: number;
  /** Where GETDENTS output is copied, and how much of it to ask for. */
  out: Uint8Array | null;
  resolve: (result: number) => void;
}

class Slot {
  readonly views = new SlotViews(new SharedArrayBuffer(SLOT_BYTES));
  worker: Worker | null = null;
  current: Request | null = null;
  /** Bound once: Atomics.waitAsync's promise calls it with no new closure per request. */
  readonly onDone: () => void;
  constructor(pool: IoPool) {
    this.onDone = () => pool.completed(this);
  }
}

export class IoPool {
  readonly #maxThreads: number;
  readonly #slots: Slot[] = [];
  readonly #idle: Slot[] = [];
  readonly #queue: Request[] = [];
  #starting = false;
  #closed = false;

  constructor(threads = 2) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new RangeError(`bad I/O thread count ${threads}`);
    this.#maxThreads = threads;
  }

  /** Threads started so far. */
  get threads(): number {
    return this.#slots.length;
  }

  /** preadv(fd, iov less its first `skip` bytes, offset): resolves to bytes or -errno. */
  preadv(fd: number, iov: IovecList, skip: number, offset: number): Promise<number> {
    return this.#submit(SlotOp.PREADV, fd, iov, skip, offset, null);
  }

  pwritev(fd: number, iov: IovecList, skip: number, offset: number): Promise<number> {
    return this.#submit(SlotOp.PWRITEV, fd, iov, skip, offset, null);
  }

  fsync(fd: number, dataOnly: boolean): Promise<number> {
    return this.#submit(dataOnly ? SlotOp.FDATASYNC : SlotOp.FSYNC, fd, null, 0, 0, null);
  }

  /** getdents64(fd) into `out` (at most its length): resolves to bytes or -errno. */
  getdents(fd: number, out: Uint8Array): Promise<number> {
    return this.#submit(SlotOp.GETDENTS, fd, null, 0, 0, out);
  }

  #submit(op: number, fd: number, iov: IovecList | null, skip: number, offset: number, out: Uint8Array | null): Promise<number> {
    if (this.#closed) return Promise.resolve(-EIO);
    if (this.#queue.length >= MAX_QUEUED) return Promise.resolve(-EAGAIN);
    return new Promise<number>((resolve) => {
      const request: Request = { op, fd, iov, skip, offset, out, resolve };
      const slot = this.#idle.pop();
      if (slot !== undefined) this.#post(slot, request);
      else {
        this.#queue.push(request);
        this.#grow();
      }
    });
  }

  /** Starts one more thread when requests wait and the pool may grow. */
  #grow(): void {
    if (this.#starting || this.#closed || this.#slots.length >= this.#maxThreads || this.#queue.length === 0) return;
    this.#starting = true;
    const slot = new Slot(this);
    const worker = new Worker(THREAD_URL, { name: 'tkvm-fs-io', workerData: { slot: slot.views.buffer }, stdout: false, stderr: false });
    slot.worker = worker;
    this.#slots.push(slot);
    let loaded = false;
    worker.once('message', () => {
      loaded = true;
      this.#starting = false;
      if (this.#closed) return;
      this.#release(slot);
      this.#grow();
    });
    const lost = (): void => {
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots.splice(index, 1);
      const idle = this.#idle.indexOf(slot);
      if (idle >= 0) this.#idle.splice(idle, 1);
      slot.worker = null;
      const request = slot.current;
      slot.current = null;
      request?.resolve(-EIO);
      if (!loaded) {
        this.#starting = false;
        // A thread that cannot start at all: fail what waits rather than retry forever.
        if (this.#slots.length === 0) for (const r of this.#queue.splice(0)) r.resolve(-EIO);
      }
      this.#grow();
    };
    worker.once('error', lost);
    worker.once('exit', lost);
  }

  /** A slot is free: give it the next queued request, or park it. */
  #release(slot: Slot): void {
    const next = this.#queue.shift();
    if (next !== undefined) this.#post(slot, next);
    else {
      slot.worker?.unref();
      this.#idle.push(slot);
    }
  }

  #post(slot: Slot, request: Request): void {
    const { ctl, f64, iovWords } = slot.views;
    let count = 0;
    if (request.iov !== null) {
      count = copyIovecs(request.iov, request.skip, iovWords);
      if (count < 0) {
        request.resolve(-EINVAL);
        this.#release(slot);
        return;
      }
    } else if (request.out !== null) {
      count = Math.min(request.out.byteLength, slot.views.dirents.byteLength);
    }
    slot.current = request;
    slot.worker?.ref();
    ctl[1] = request.op;
    ctl[2] = request.fd;
    ctl[3] = count;
    f64[0] = request.offset;
    Atomics.store(ctl, 0, SlotState.POSTED);
    Atomics.notify(ctl, 0);
    this.#await(slot);
  }

  #await(slot: Slot): void {
    const wait = Atomics.waitAsync(slot.views.ctl, 0, SlotState.POSTED);
    if (wait.async) void wait.value.then(slot.onDone);
    else this.completed(slot);
  }

  /** The slot's thread stored a result (or the wait ended early: then wait again). */
  completed(slot: Slot): void {
    const { ctl, f64, dirents } = slot.views;
    const state = Atomics.load(ctl, 0);
    if (state === SlotState.POSTED) {
      this.#await(slot);
      return;
    }
    const request = slot.current;
    if (state !== SlotState.DONE || request === null) return;
    slot.current = null;
    const result = f64[1]!;
    if (request.out !== null && result > 0) request.out.set(dirents.subarray(0, result));
    Atomics.store(ctl, 0, SlotState.IDLE);
    request.resolve(result);
    if (!this.#closed) this.#release(slot);
  }

  /** Fails what waits, stops the threads and waits for them to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#queue.splice(0)) r.resolve(-EIO);
    const exits: Array<Promise<void>> = [];
    for (const slot of this.#slots) {
      const worker = slot.worker;
      if (worker === null) continue;
      exits.push(new Promise((resolve) => worker.once('exit', () => resolve())));
      worker.ref(); // an idle thread is unref'd: without this, the wait for its exit would not keep the loop alive
      // A thread inside a system call finishes it first; its result is dropped.
      slot.current?.resolve(-EIO);
      slot.current = null;
      Atomics.store(slot.views.ctl, 0, SlotState.STOP);
      Atomics.notify(slot.views.ctl, 0);
    }
    this.#idle.length = 0;
    await Promise.all(exits);
  }
}

/**
 * Writes the iovecs of `iov` into a slot, leaving out its first `skip`
 * bytes (a transfer that continues a short one): the count, or -1 when
 * there are too many or `skip` is past the end.
 */
function copyIovecs(iov: IovecList, skip: number, words: Uint32Array): number {
  if (skip > iov.length || iov.count > IOV_MAX) return -1;
  let left = skip;
  let out = 0;
  for (let i = 0; i < iov.count; i++) {
    let base = iov.baseAt(i);
    let len = iov.lengthAt(i);
    if (left >= len) {
      left -= len;
      continue;
    }
    base += left;
    len -= left;
    left = 0;
    const w = out * 4;
    words[w] = base % TWO_32;
    words[w + 1] = Math.floor(base / TWO_32);
    words[w + 2] = len % TWO_32;
    words[w + 3] = Math.floor(len / TWO_32);
    out++;
  }
  return out;
}
