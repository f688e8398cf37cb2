/**
 * The test frames of bench/net, as test/guests/runtime/virtio_net.h and
 * tap-loop.c make them: broadcast destination, a source MAC naming the
 * sender, EtherType 0x88b5 (IEEE 802 local experimental), the sequence
 * number as 8 bytes little-endian, then byte j (j >= 22) = (j * 7 + 1) mod 256.
 */
export const FRAME_ETHERTYPE = 0x88b5;
export const FRAME_HEADER_BYTES = 22;
export const GUEST_MAC: readonly number[] = [0x02, 0x74, 0x6b, 0x76, 0x6d, 0x02];
export const HOST_MAC: readonly number[] = [0x02, 0x74, 0x6b, 0x76, 0x6d, 0x01];

export function frameByte(j: number): number {
  return (j * 7 + 1) & 0xff;
}

/** Test frame number `seq` of `size` bytes from `source`. */
export function buildTestFrame(size: number, seq: number, source: readonly number[]): Uint8Array {
  if (!Number.isInteger(size) || size < FRAME_HEADER_BYTES) throw new RangeError(`test frame of ${size} bytes`);
  const frame = new Uint8Array(size);
  frame.fill(0xff, 0, 6);
  frame.set(source, 6);
  frame[12] = FRAME_ETHERTYPE >> 8;
  frame[13] = FRAME_ETHERTYPE & 0xff;
  new DataView(frame.buffer).setBigUint64(14, BigInt(seq), true);
  for (let j = FRAME_HEADER_BYTES; j < size; j++) frame[j] = frameByte(j);
  return frame;
}

/**
 * The sequence number of a test frame from `source`, null if the frame is
 * other traffic; throws if it is a test frame whose bytes are wrong.
 */
export function checkTestFrame(frame: Uint8Array, source: readonly number[]): number | null {
  if (frame.length < 14 || frame[12] !== FRAME_ETHERTYPE >> 8 || frame[13] !== (FRAME_ETHERTYPE & 0xff)) return null;
  if (source.some((b, i) => frame[6 + i] !== b)) return null;
  if (frame.length < FRAME_HEADER_BYTES) throw new Error(`test frame of only ${frame.length} bytes`);
  if (frame.subarray(0, 6).some((b) => b !== 0xff)) throw new Error('test frame not broadcast');
  const seq = Number(new DataView(frame.buffer, frame.byteOffset).getBigUint64(14, true));
  for (let j = FRAME_HEADER_BYTES; j < frame.length; j++) {
    if (frame[j] !== frameByte(j)) throw new Error(`test frame ${seq}: byte ${j} is ${frame[j]}, expected ${frameByte(j)}`);
  }
  return seq;
}
