/**
 * The interface a virtio-net device uses to reach a host network: a frame
 * transport with one fd to watch. The interface lives with the devices that
 * use it; the host side (src/backends/net: passt over a socketpair, a TAP)
 * implements it, and the VMM opens it through the registry's HostResource.
 *
 * Frames move straight between guest RAM and the host fd: the device builds
 * an IovecList over the guest buffers of one chain (host addresses), and the
 * backend does one writev/readv (or sendmsg/recvmsg) on it. No method
 * throws for host I/O failures: a failure is a NetResult, which the device
 * turns into a dropped frame, a counter and a rate-limited log line.
 *
 * Header handling (virtio 1.2 §5.1.6): every frame the device hands over or
 * takes back starts with the 12-byte `struct virtio_net_hdr_v1` when
 * `vnetHeader` is true (a TAP opened with IFF_VNET_HDR and TUNSETVNETHDRSZ
 * 12 reads and writes it itself), and is a bare Ethernet frame when it is
 * false (passt): the device then strips the header on TX and writes a
 * zeroed one (no offload metadata) on RX.
 *
 * A stream transport (passt's socketpair: a 4-byte big-endian length, then
 * the frame) keeps its own framing state: `send` finishes a partly written
 * frame before the next, and `receive` returns Ok only for a whole frame.
 */
import type { IovecList } from '../memory/iovec-list.js';

/** Offloads the host side can take (TUNSETOFFLOAD's TUN_F_* bits, virtio 1.2 §5.1.3). */
export interface NetOffloads {
  /** TUN_F_CSUM: frames may carry a partial checksum (VIRTIO_NET_F_CSUM / GUEST_CSUM). */
  csum: boolean;
  /** TUN_F_TSO4 (GUEST_TSO4 / HOST_TSO4), needs csum. */
  tso4: boolean;
  /** TUN_F_TSO6 (GUEST_TSO6 / HOST_TSO6), needs csum. */
  tso6: boolean;
}

export const NO_OFFLOADS: Readonly<NetOffloads> = Object.freeze({ csum: false, tso4: false, tso6: false });

/** Result of one frame transfer. `ok` with `bytes`, or would block, or the link is gone, or an error. */
export const enum NetStatus {
  /** The frame went out, or `bytes` were received. */
  Ok = 0,
  /** Nothing to read now, or no room to write now: wait for the fd (EAGAIN). */
  WouldBlock = 1,
  /** The peer is gone (passt exited, the TAP was deleted): the link is down for good. */
  Closed = 2,
  /** Any other host error; the frame is dropped. `error` says which. */
  Error = 3,
}

export interface NetBackend {
  /** A short name for logs and stats, e.g. `passt` or `tap tkvm0`. */
  readonly name: string;
  /** Non-blocking fd to watch: readable when a frame is waiting, writable when a sent one would fit. */
  readonly fd: number;
  /** True if frames on this backend carry the 12-byte virtio_net_hdr_v1 (see the file comment). */
  readonly vnetHeader: boolean;
  /** Offloads this backend can accept, the most the device may offer the guest. */
  readonly offloads: Readonly<NetOffloads>;
  /** Largest frame (without any virtio header) the backend passes, e.g. 65535 for passt. */
  readonly maxFrameBytes: number;
  /** Applies the offloads the guest negotiated (TUNSETOFFLOAD); a subset of `offloads`. */
  setOffloads(offloads: Readonly<NetOffloads>): void;
  /**
   * Sends one frame gathered from `iov` (header included when vnetHeader).
   * A frame is sent whole or not at all; WouldBlock means try again later
   * with the same frame.
   */
  send(iov: IovecList): NetStatus;
  /**
   * Receives one frame into `iov` (header included when vnetHeader);
   * on Ok, `lastBytes` is its length. A frame longer than `iov` is
   * truncated by the host and reported as Error with code EMSGSIZE.
   */
  receive(iov: IovecList): NetStatus;
  /**
   * Optional: the length of the next frame (header included when
   * vnetHeader) if one is waiting and the backend can tell without taking
   * it, else -1. A stream backend knows it from the length word; the device
   * then waits for enough guest buffers instead of dropping a large frame.
   * A backend without it gets buffers for the largest frame before each read.
   */
  nextFrameBytes?(): number;
  /** Length of the last received frame, valid after receive() returned Ok. */
  readonly lastBytes: number;
  /** The errno name of the last Error result (e.g. "EIO"), for the device's log line. */
  readonly lastError: string;
  close(): void;
}
