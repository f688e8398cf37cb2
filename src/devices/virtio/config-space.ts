/**
 * Device-specific configuration space (virtio 1.2 §4.1.4.6 for PCI):
 * a little-endian byte layout the driver reads through the transport.
 * Accesses outside the layout read as zero and writes there are ignored,
 * so a guest probing past the end cannot fault the VMM.
 *
 * The bytes live in a SharedArrayBuffer: a device thread and the vCPU side
 * share the one copy (`ConfigSpace.over` on the other thread), so a read
 * always sees the device's latest write, with no mirror to fall behind.
 */
export class ConfigSpace {
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(size: number, buffer = new SharedArrayBuffer(size)) {
    if (buffer.byteLength < size) throw new RangeError(`config space of ${size} bytes in a buffer of ${buffer.byteLength}`);
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer, 0, size);
    this.view = new DataView(buffer, 0, size);
  }

  /** The same configuration space, seen from another thread. */
  static over(buffer: SharedArrayBuffer, size: number): ConfigSpace {
    return new ConfigSpace(size, buffer);
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Copies config bytes at `offset` into `data` (zero beyond the end). */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.bytes.length) return;
    data.set(this.bytes.subarray(offset, Math.min(offset + data.length, this.bytes.length)));
  }

  /** Returns the bytes a driver write touches inside the layout, or null if none. */
  clip(offset: number, data: Uint8Array): { offset: number; data: Uint8Array } | null {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.bytes.length) return null;
    return { offset, data: data.subarray(0, Math.min(data.length, this.bytes.length - offset)) };
  }
}
