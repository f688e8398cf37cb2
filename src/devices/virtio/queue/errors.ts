/**
 * Typed errors for guest-caused virtqueue faults. A malformed descriptor
 * chain is hostile input, never a VMM crash: the queue reports it with a
 * stable `code` and says whether only that chain is lost or the whole queue
 * is unusable (the device must then set DEVICE_NEEDS_RESET, virtio 1.2 §2.1.2).
 */

export type VirtqueueErrorCode =
  /** Queue configuration rejected when the driver enables it. */
  | 'ERR_VIRTQ_BAD_CONFIG'
  /** avail.idx moved by more than the queue size (§2.7.6). */
  | 'ERR_VIRTQ_AVAIL_IDX_JUMP'
  /** A head index in the available ring is not below the queue size. */
  | 'ERR_VIRTQ_HEAD_OUT_OF_RANGE'
  /** A descriptor's `next` is not below the queue (or indirect table) size. */
  | 'ERR_VIRTQ_NEXT_OUT_OF_RANGE'
  /** More descriptors than the queue (or table) holds: a loop or an over-long chain. */
  | 'ERR_VIRTQ_CHAIN_TOO_LONG'
  /** The chain's buffers add up to more than the byte cap. */
  | 'ERR_VIRTQ_CHAIN_TOO_LARGE'
  /** A buffer or indirect table lies (partly) outside guest RAM. */
  | 'ERR_VIRTQ_DESC_OUT_OF_RANGE'
  /** INDIRECT used although VIRTIO_F_INDIRECT_DESC was not negotiated. */
  | 'ERR_VIRTQ_INDIRECT_NOT_NEGOTIATED'
  /** An indirect table holds an INDIRECT descriptor (§2.7.5.3.1). */
  | 'ERR_VIRTQ_NESTED_INDIRECT'
  /** INDIRECT and NEXT set together (§2.7.5.3.1). */
  | 'ERR_VIRTQ_INDIRECT_WITH_NEXT'
  /** An indirect table length of 0 or not a multiple of 16 (§2.7.5.3.1). */
  | 'ERR_VIRTQ_INDIRECT_BAD_LENGTH'
  /** A device-readable descriptor after a device-writable one (§2.7.4.2). */
  | 'ERR_VIRTQ_READABLE_AFTER_WRITABLE'
  /** A device read or wrote past the end of the chain's buffers. */
  | 'ERR_VIRTQ_CHAIN_EXHAUSTED'
  /** The queue was broken by an earlier fatal error. */
  | 'ERR_VIRTQ_BROKEN';

export class VirtqueueError extends Error {
  readonly code: VirtqueueErrorCode;
  /**
   * The head index of the chain that caused the error, when it was consumed
   * from the available ring: the device returns it with used length 0.
   */
  readonly head: number | undefined;
  /** True when the whole queue is unusable until the driver resets the device. */
  readonly fatal: boolean;

  constructor(code: VirtqueueErrorCode, message: string, options: { head?: number; fatal?: boolean } = {}) {
    super(message);
    this.name = 'VirtqueueError';
    this.code = code;
    this.head = options.head;
    this.fatal = options.fatal ?? false;
  }
}
