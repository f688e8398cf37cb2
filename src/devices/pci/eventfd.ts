/**
 * Eventfd helpers shared by MSI-X delivery, ioeventfds and device workers
 * (eventfd(2)): the counter is a native-endian u64.
 */
import * as sys from '../../sys/libc.js';
import { SysError } from '../../sys/errors.js';

const ONE = new BigUint64Array([1n]);
/** The counter read by drainEventFd: one per thread (module instances are), so draining allocates nothing. */
const COUNTER = new BigUint64Array(1);

/** Creates a non-blocking, close-on-exec eventfd. */
export function createEventFd(): number {
  return sys.eventfd(0, sys.EFD_CLOEXEC | sys.EFD_NONBLOCK);
}

/** Adds 1 to the counter (an irqfd then injects its interrupt). */
export function writeEventFd(fd: number): void {
  try {
    sys.write(fd, ONE);
  } catch (err) {
    // EAGAIN: the counter is at its maximum, so the reader is signalled already.
    if (!(err instanceof SysError && err.errno === sys.EAGAIN)) throw err;
  }
}

/** Reads and resets the counter (of an eventfd, or the expirations of a timerfd); 0 if it was 0 (non-blocking fd). */
export function drainEventFd(fd: number): number {
  try {
    sys.read(fd, COUNTER);
  } catch (err) {
    if (err instanceof SysError && err.errno === sys.EAGAIN) return 0;
    throw err;
  }
  return Number(COUNTER[0]!);
}
