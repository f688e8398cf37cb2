/**
 * struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6): the 12 bytes in front of
 * every frame in a virtio-net buffer. With VERSION_1 the header always has
 * num_buffers, whether or not MRG_RXBUF was negotiated (§5.1.6.1).
 */

export const NET_HDR_SIZE = 12;

/** flags (§5.1.6): the checksum from csum_start + csum_offset is still to be done. */
export const NET_HDR_F_NEEDS_CSUM = 1;
/** flags: the checksum is known to be valid (receive only). */
export const NET_HDR_F_DATA_VALID = 2;
/** gso_type values (§5.1.6). */
export const NetGsoType = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, ECN: 0x80 } as const;

/** Offsets of the header's fields. */
export const NetHdrOffset = { flags: 0, gsoType: 1, hdrLen: 2, gsoSize: 4, csumStart: 6, csumOffset: 8, numBuffers: 10 } as const;

export interface NetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers: number;
}

export function decodeNetHeader(bytes: Uint8Array, at = 0): NetHeader {
  if (bytes.length - at < NET_HDR_SIZE) throw new RangeError(`a virtio-net header needs ${NET_HDR_SIZE} bytes, got ${bytes.length - at}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, NET_HDR_SIZE);
  return {
    flags: v.getUint8(NetHdrOffset.flags), gsoType: v.getUint8(NetHdrOffset.gsoType),
    hdrLen: v.getUint16(NetHdrOffset.hdrLen, true), gsoSize: v.getUint16(NetHdrOffset.gsoSize, true),
    csumStart: v.getUint16(NetHdrOffset.csumStart, true), csumOffset: v.getUint16(NetHdrOffset.csumOffset, true),
    numBuffers: v.getUint16(NetHdrOffset.numBuffers, true),
  };
}

/** Writes `h` into `out` at `at` (every field masked to its width). */
export function encodeNetHeader(h: NetHeader, out: Uint8Array, at = 0): void {
  if (out.length - at < NET_HDR_SIZE) throw new RangeError(`a virtio-net header needs ${NET_HDR_SIZE} bytes, got ${out.length - at}`);
  const v = new DataView(out.buffer, out.byteOffset + at, NET_HDR_SIZE);
  v.setUint8(NetHdrOffset.flags, h.flags & 0xff);
  v.setUint8(NetHdrOffset.gsoType, h.gsoType & 0xff);
  v.setUint16(NetHdrOffset.hdrLen, h.hdrLen & 0xffff, true);
  v.setUint16(NetHdrOffset.gsoSize, h.gsoSize & 0xffff, true);
  v.setUint16(NetHdrOffset.csumStart, h.csumStart & 0xffff, true);
  v.setUint16(NetHdrOffset.csumOffset, h.csumOffset & 0xffff, true);
  v.setUint16(NetHdrOffset.numBuffers, h.numBuffers & 0xffff, true);
}
