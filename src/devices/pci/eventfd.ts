/**
 * Eventfd helpers shared by MSI-X delivery, ioeventfds and device workers
 * (eventfd(2)): the counter is a native-endian u64.
 */
import * as sys from '../../sys/libc.js';
import { SysError } from '../../sys/errors.js';

const ONE = new BigUint64Array([1n]);

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

/** Reads and resets the counter; 0 if it was 0 (non-blocking fd). */
export function drainEventFd(fd: number): number {
  const buf = new BigUint64Array(1);
  try {
    sys.read(fd, buf);
  } catch (err) {
    if (err instanceof SysError && err.errno === sys.EAGAIN) return 0;
    throw err;
  }
  return Number(buf[0]!);
}
