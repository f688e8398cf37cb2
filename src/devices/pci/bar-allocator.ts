/**
 * Assigns guest-physical addresses to BARs inside the PCI MMIO window, as
 * firmware would before the OS starts: each BAR is naturally aligned (a
 * BAR's address is a multiple of its size, PCI 3.0 §6.2.5.1).
 */
import { TkvmError } from '../../util/errors.js';

export class BarAllocator {
  readonly base: number;
  readonly size: number;
  #next: number;

  constructor(base: number, size: number) {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || base < 0 || size <= 0) throw new RangeError(`bad BAR window 0x${base.toString(16)}+0x${size.toString(16)}`);
    this.base = base;
    this.size = size;
    this.#next = base;
  }

  /** Bytes not yet handed out (ignoring alignment holes to come). */
  get remaining(): number {
    return this.base + this.size - this.#next;
  }

  /** Returns a `size`-aligned address for a BAR of `size` bytes (a power of 2). */
  allocate(size: number, name = 'PCI BAR'): number {
    if (!Number.isSafeInteger(size) || size <= 0 || !Number.isInteger(Math.log2(size))) throw new RangeError(`${name}: BAR size ${size} is not a power of 2`);
    const address = Math.ceil(this.#next / size) * size;
    if (address + size > this.base + this.size) {
      throw new TkvmError('ERR_PCI_MMIO_EXHAUSTED', `${name}: no room for a 0x${size.toString(16)}-byte BAR in the PCI MMIO window 0x${this.base.toString(16)}+0x${this.size.toString(16)}; use fewer devices`);
    }
    this.#next = address + size;
    return address;
  }
}
