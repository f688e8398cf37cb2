/**
 * The body of one I/O thread of the shared-directory layer (io-pool.ts):
 * waits on its slot's state word, runs the posted system call
 * synchronously, stores the result and wakes the tree's thread. Its own
 * event loop never runs; it leaves when the state becomes STOP.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as sysfs from '../../sys/fs.js';
import { SlotOp, SlotState, SlotViews } from './io-slot.js';

function serve(views: SlotViews): void {
  const { ctl, f64, iov, dirents } = views;
  for (;;) {
    let state = Atomics.load(ctl, 0);
    while (state !== SlotState.POSTED && state !== SlotState.STOP) {
      Atomics.wait(ctl, 0, state);
      state = Atomics.load(ctl, 0);
    }
    if (state === SlotState.STOP) return;
    const fd = ctl[2]!;
    const count = ctl[3]!;
    let ret: number;
    switch (ctl[1]) {
      case SlotOp.PREADV: ret = sysfs.preadv2(fd, iov, count, f64[0]!, 0); break;
      case SlotOp.PWRITEV: ret = sysfs.pwritev2(fd, iov, count, f64[0]!, 0); break;
      case SlotOp.FSYNC: ret = sysfs.fsync(fd); break;
      case SlotOp.FDATASYNC: ret = sysfs.fdatasync(fd); break;
      case SlotOp.GETDENTS: ret = sysfs.getdents64(fd, dirents, count); break;
      default: ret = -22; // EINVAL
    }
    f64[1] = ret;
    // STOP may have come while the call ran: then leave, dropping the result.
    if (Atomics.compareExchange(ctl, 0, SlotState.POSTED, SlotState.DONE) !== SlotState.POSTED) return;
    Atomics.notify(ctl, 0);
  }
}

if (workerData) {
  const views = new SlotViews((workerData as { slot: SharedArrayBuffer }).slot);
  // Loaded (koffi included): the pool may start the next thread (see io-pool.ts).
  parentPort?.postMessage('loaded');
  serve(views);
}
