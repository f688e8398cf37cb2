/**
 * Guest buffers as a backend sees them: zero-copy views over guest RAM and,
 * when the RAM is host-mapped memory, the same bytes as host address ranges
 * for preadv/pwritev. Built by virtqueue chain cursors; backends never see
 * guest-physical addresses.
 */

/** One entry of a host iovec: `len` bytes at host address `hostAddr`. */
export interface HostRange {
  hostAddr: bigint;
  len: number;
}

export interface IoBuffers {
  /** Total bytes covered. */
  readonly length: number;
  /** Views of the bytes, in order; writes to them are writes to guest RAM. */
  readonly slices: readonly Uint8Array[];
  /** The same bytes as host ranges, or null for buffer-backed (test) memory. */
  readonly hostRanges: readonly HostRange[] | null;
}

/** IoBuffers over plain byte arrays (no host addresses): tests, bounce buffers. */
export function ioBuffersOf(...slices: Uint8Array[]): IoBuffers {
  return { length: slices.reduce((n, s) => n + s.length, 0), slices, hostRanges: null };
}

/** Linux UIO_MAXIOV: the most iovecs one preadv/pwritev accepts. */
export const IOV_MAX = 1024;
/** sizeof(struct iovec) on x86-64: void *iov_base; size_t iov_len. */
export const IOVEC_SIZE = 16;

/** Encodes host ranges as an array of struct iovec for preadv/pwritev. */
export function encodeIovecs(ranges: readonly HostRange[]): Uint8Array {
  const out = new Uint8Array(ranges.length * IOVEC_SIZE);
  const view = new DataView(out.buffer);
  ranges.forEach((r, i) => {
    view.setBigUint64(i * IOVEC_SIZE, r.hostAddr, true);
    view.setBigUint64(i * IOVEC_SIZE + 8, BigInt(r.len), true);
  });
  return out;
}

/**
 * The ranges left after skipping the first `skip` bytes and keeping at most
 * `maxCount` entries: used to resume after a short transfer and to batch
 * requests longer than IOV_MAX entries.
 */
export function sliceRanges(ranges: readonly HostRange[], skip: number, maxCount = IOV_MAX): HostRange[] {
  const out: HostRange[] = [];
  let toSkip = skip;
  for (const r of ranges) {
    if (out.length >= maxCount) break;
    if (toSkip >= r.len) {
      toSkip -= r.len;
      continue;
    }
    out.push({ hostAddr: r.hostAddr + BigInt(toSkip), len: r.len - toSkip });
    toSkip = 0;
  }
  return out;
}
