/**
 * A console transmit chain (virtio 1.2 §5.3.6.1: the driver's output), handed
 * on in pieces of at most 64 KiB; bytes past `cap` are dropped, counted and
 * logged (the logger is rate-limited), so a hostile buffer cannot make the
 * host hold unbounded output.
 */
import type { DeviceLogger } from '../log.js';
import type { DescriptorChain } from '../queue/chain.js';

const OUTPUT_PIECE = 64 * 1024;

export interface TransmitCounters {
  transmittedBytes: number;
  droppedOutputBytes: number;
}

/** Passes the chain's readable bytes to `emit`; returns 0, the used length of a transmit chain. */
export function transmitChain(chain: DescriptorChain, cap: number, counters: TransmitCounters, logger: DeviceLogger, emit: (piece: Uint8Array) => void): number {
  const reader = chain.reader();
  const total = reader.remaining;
  const n = Math.min(total, cap);
  counters.transmittedBytes += n;
  if (total > n) {
    counters.droppedOutputBytes += total - n;
    logger.warn(`virtio-console: dropped ${total - n} bytes of an oversized transmit buffer`);
  }
  for (let done = 0; done < n;) {
    const piece = reader.readBytes(Math.min(OUTPUT_PIECE, n - done));
    done += piece.length;
    emit(piece);
  }
  return 0;
}
