/**
 * Echo devices the integration-test guests talk to (only present with
 * VmConfig.testDevices): byte-addressed scratch storage on the port-I/O bus
 * and on the MMIO bus. A write of width w at offset o stores w bytes at o; a
 * read returns what is stored there (0 where nothing was written). Bytes of
 * an access that fall past the end of the device are dropped on write and
 * read as 0, so a guest can check both data paths and access widths.
 */
import type { BusDevice } from '../../bus/bus.js';

/** Where the VMM puts the echo devices, and how big they are. */
export const TEST_PIO_ECHO_BASE = 0x510;
export const TEST_PIO_ECHO_SIZE = 4;
export const TEST_MMIO_ECHO_BASE = 0xd000_0000;
export const TEST_MMIO_ECHO_SIZE = 0x1000;

/** Byte storage shared by the two echo devices. */
export class EchoDevice implements BusDevice {
  readonly #storage: Uint8Array;
  #reads = 0;
  #writes = 0;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`echo device: bad size ${size}`);
    this.#storage = new Uint8Array(size);
  }

  get size(): number {
    return this.#storage.length;
  }

  read(offset: number, data: Uint8Array): void {
    this.#reads++;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at >= 0 && at < this.#storage.length ? this.#storage[at]! : 0;
    }
  }

  write(offset: number, data: Uint8Array): void {
    this.#writes++;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (at >= 0 && at < this.#storage.length) this.#storage[at] = data[i]!;
    }
  }

  stats(): { reads: number; writes: number } {
    return { reads: this.#reads, writes: this.#writes };
  }
}

/** 4 bytes of port I/O storage (at TEST_PIO_ECHO, 0x510). */
export class PioEchoDevice extends EchoDevice {
  static readonly SIZE = TEST_PIO_ECHO_SIZE;
  constructor() {
    super(PioEchoDevice.SIZE);
  }
}

/** 4 KiB of MMIO storage (at TEST_MMIO_ECHO, 0xD0000000). */
export class MmioEchoDevice extends EchoDevice {
  static readonly SIZE = TEST_MMIO_ECHO_SIZE;
  constructor() {
    super(MmioEchoDevice.SIZE);
  }
}
