/**
 * Device-specific configuration space (virtio 1.2 §4.1.4.6 for PCI):
 * a little-endian byte layout the driver reads through the transport.
 * Accesses outside the layout read as zero and writes there are ignored,
 * so a guest probing past the end cannot fault the VMM.
 */
export class ConfigSpace {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
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
