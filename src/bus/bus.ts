/**
 * Address-space dispatch for port I/O and MMIO. Devices are registered on
 * non-overlapping ranges and see offsets from their range base only.
 */

/** A device on a bus. `data` has the access width (1, 2, 4 or 8 bytes). */
export interface BusDevice {
  /** Fill `data` with the value read at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Handle a write of `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

export class BusOverlapError extends Error {
  readonly code = 'ERR_BUS_OVERLAP';
  constructor(bus: string, name: string, base: number, length: number, other: string) {
    super(`${bus} bus: ${name} at 0x${base.toString(16)}+0x${length.toString(16)} overlaps ${other}`);
    this.name = 'BusOverlapError';
  }
}

export interface BusRange {
  base: number;
  length: number;
  name: string;
  device: BusDevice;
}

export class Bus {
  readonly kind: string;
  /** Sorted by base, never overlapping. */
  #ranges: BusRange[] = [];

  constructor(kind: 'pio' | 'mmio') {
    this.kind = kind;
  }

  /** Registers `device` on [base, base+length); throws BusOverlapError on any overlap. */
  insert(base: number, length: number, name: string, device: BusDevice): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0 || length <= 0) {
      throw new RangeError(`${this.kind} bus: bad range for ${name}: 0x${base.toString(16)}+${length}`);
    }
    const end = base + length;
    for (const r of this.#ranges) {
      if (base < r.base + r.length && r.base < end) throw new BusOverlapError(this.kind, name, base, length, r.name);
    }
    this.#ranges.push({ base, length, name, device });
    this.#ranges.sort((a, b) => a.base - b.base);
  }

  /** Removes the range registered at exactly `base`; returns whether one was. */
  remove(base: number): boolean {
    const i = this.#ranges.findIndex((r) => r.base === base);
    if (i < 0) return false;
    this.#ranges.splice(i, 1);
    return true;
  }

  /** The range containing `addr`, by binary search. */
  find(addr: number): BusRange | undefined {
    const rs = this.#ranges;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = rs[mid]!;
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.length) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Dispatches a read; returns false (data untouched) when nothing claims `addr`. */
  read(addr: number, data: Uint8Array): boolean {
    const r = this.find(addr);
    if (!r) return false;
    r.device.read(addr - r.base, data);
    return true;
  }

  /** Dispatches a write; returns false when nothing claims `addr`. */
  write(addr: number, data: Uint8Array): boolean {
    const r = this.find(addr);
    if (!r) return false;
    r.device.write(addr - r.base, data);
    return true;
  }

  ranges(): readonly BusRange[] {
    return this.#ranges;
  }
}
