/**
 * The configuration space of one PCI function with a type 0 header (PCI
 * Local Bus Specification 3.0, §6.1-§6.2, §6.7): identification registers,
 * command/status, BARs with sizing, the capability list, interrupt
 * line/pin. Every byte has a write mask, so read-only registers ignore
 * writes, BARs read back their size mask after an all-ones write (§6.2.5.1)
 * and the status register's error bits are write-1-to-clear.
 *
 * The owner learns where each BAR decodes through `onBarChange`: a BAR is
 * mapped while its decode enable (Memory or I/O Space in COMMAND) is set,
 * its address is not 0 and no dword of it holds the all-ones sizing
 * pattern. A guest that moves a BAR therefore produces an unmap and a map
 * event, and the transient values of a sizing sequence never show.
 *
 * The owner (the root complex) may also refuse a decode through
 * `setDecodeArbiter`, e.g. while the BAR overlaps another function's: the
 * BAR then reads back as programmed but is not mapped (PCI 3.0 §6.2.5.1
 * leaves overlapping decodes undefined; tkvm decodes neither twice).
 */
import {
  BAR_COUNT, CAPABILITY_AREA_START, CONFIG_SPACE_SIZE, PciCommand, PciReg, PciStatus,
} from './constants.js';
import { StateReader, toBase64 } from '../../util/saved-state.js';

export type BarKind = 'io' | 'mem32' | 'mem64';

export interface BarSpec {
  /** BAR slot 0-5; a 64-bit BAR also takes slot index + 1. */
  index: number;
  /** Power of 2: at least 16 bytes for memory (4 KiB recommended), 4 for I/O. */
  size: number;
  kind: BarKind;
  prefetchable?: boolean;
}

export interface BarInfo extends Required<BarSpec> {
  /** The address programmed in the BAR (0 while unassigned). */
  address: number;
  /** Where it decodes now, or null when it does not (decode disabled, unassigned, being sized or refused). */
  mappedAt: number | null;
  /** The guest asked for a decode that the arbiter refused (it overlaps something). */
  refused: boolean;
}

/** Whether a BAR may decode at `at` (`at + size` bytes); consulted on every mapping change. */
export type DecodeArbiter = (bar: { index: number; kind: BarKind; size: number }, at: number) => boolean;

/** A BAR started or stopped decoding, or moved. */
export interface BarChange {
  index: number;
  kind: BarKind;
  size: number;
  /** Previous mapping, or null if it was not mapped. */
  from: number | null;
  /** New mapping, or null if it is no longer mapped. */
  to: number | null;
}

export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  revisionId?: number;
  /** base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 0 = no INTx, 1-4 = INTA-INTD. */
  interruptPin?: number;
  /** Initial Interrupt Line register (the legacy IRQ firmware routed INTx to). */
  interruptLine?: number;
}

/** Writable command bits (§6.2.2); the rest are hardwired to 0. */
const COMMAND_WRITABLE = PciCommand.IO_SPACE | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER
  | PciCommand.PARITY_ERROR_RESPONSE | PciCommand.SERR_ENABLE | PciCommand.INTX_DISABLE;
const ALL_ONES = 0xffff_ffff;
const BAR_IO = 0x1;
const BAR_MEM64 = 0x4;
const BAR_PREFETCH = 0x8;

interface Bar extends Required<BarSpec> {
  /** Dwords of the BAR whose last write was the all-ones sizing pattern. */
  sizingDwords: number;
  mappedAt: number | null;
  refused: boolean;
}

const isPowerOf2 = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && Number.isInteger(Math.log2(n));

export class PciConfigSpace {
  readonly #bytes = new Uint8Array(CONFIG_SPACE_SIZE);
  readonly #view = new DataView(this.#bytes.buffer);
  /** Bits the guest may change. */
  readonly #writable = new Uint8Array(CONFIG_SPACE_SIZE);
  /** Bits a guest write of 1 clears. */
  readonly #writeOneToClear = new Uint8Array(CONFIG_SPACE_SIZE);
  readonly #bars: Array<Bar | undefined> = new Array(BAR_COUNT).fill(undefined);
  readonly #listeners: Array<(change: BarChange) => void> = [];
  #arbiter: DecodeArbiter | undefined;
  /** #updateMappings is running (listeners may re-enter it) / must run again. */
  #updating = false;
  #updateAgain = false;
  #lastCapability = 0;
  #nextCapability = CAPABILITY_AREA_START;

  constructor(identity: PciIdentity) {
    const v = this.#view;
    v.setUint16(PciReg.VENDOR_ID, identity.vendorId, true);
    v.setUint16(PciReg.DEVICE_ID, identity.deviceId, true);
    v.setUint8(PciReg.REVISION_ID, identity.revisionId ?? 0);
    v.setUint8(PciReg.CLASS_PROG_IF, identity.classCode & 0xff);
    v.setUint8(PciReg.CLASS_SUBCLASS, (identity.classCode >> 8) & 0xff);
    v.setUint8(PciReg.CLASS_BASE, (identity.classCode >> 16) & 0xff);
    v.setUint16(PciReg.SUBSYSTEM_VENDOR_ID, identity.subsystemVendorId ?? 0, true);
    v.setUint16(PciReg.SUBSYSTEM_ID, identity.subsystemId ?? 0, true);
    v.setUint8(PciReg.INTERRUPT_PIN, identity.interruptPin ?? 0);
    v.setUint8(PciReg.INTERRUPT_LINE, identity.interruptLine ?? 0);
    this.#setMask(PciReg.COMMAND, 2, COMMAND_WRITABLE);
    this.#writeOneToClear[PciReg.STATUS + 1] = PciStatus.ERROR_BITS_RW1C >> 8;
    this.#writable[PciReg.CACHE_LINE_SIZE] = 0xff;
    this.#writable[PciReg.LATENCY_TIMER] = 0xff;
    this.#writable[PciReg.INTERRUPT_LINE] = 0xff;
  }

  /** Subscribes to BAR mapping changes (guest relocation, decode enable/disable). */
  onBarChange(listener: (change: BarChange) => void): void {
    this.#listeners.push(listener);
  }

  /** Installs the check every new mapping must pass (the root's overlap check). */
  setDecodeArbiter(arbiter: DecodeArbiter): void {
    this.#arbiter = arbiter;
    this.#updateMappings();
  }

  /** Re-evaluates every BAR's mapping, e.g. after another function freed the range a refused BAR wants. */
  recheckMappings(): void {
    this.#updateMappings();
  }

  get vendorId(): number {
    return this.#view.getUint16(PciReg.VENDOR_ID, true);
  }

  get command(): number {
    return this.#view.getUint16(PciReg.COMMAND, true);
  }

  get interruptLine(): number {
    return this.#bytes[PciReg.INTERRUPT_LINE]!;
  }

  /** Declares a BAR; it starts unassigned (address 0, not decoding). */
  addBar(spec: BarSpec): void {
    const { index, size, kind } = spec;
    const prefetchable = spec.prefetchable ?? false;
    const slots = kind === 'mem64' ? 2 : 1;
    if (!Number.isInteger(index) || index < 0 || index + slots > BAR_COUNT) throw new RangeError(`BAR ${index} (${kind}) does not fit the 6 BAR slots`);
    for (let i = index; i < index + slots; i++) if (this.#bars[i] || this.#barOwning(i)) throw new RangeError(`BAR slot ${i} is already in use`);
    const min = kind === 'io' ? 4 : 16;
    const max = kind === 'mem64' ? 2 ** 52 : kind === 'mem32' ? 2 ** 31 : 256;
    if (!isPowerOf2(size) || size < min || size > max) throw new RangeError(`BAR ${index}: size ${size} is not a power of 2 in [${min}, ${max}]`);
    if (kind === 'io' && prefetchable) throw new RangeError(`BAR ${index}: an I/O BAR cannot be prefetchable`);
    this.#bars[index] = { index, size, kind, prefetchable, sizingDwords: 0, mappedAt: null, refused: false };
    const offset = PciReg.BAR0 + 4 * index;
    const typeBits = kind === 'io' ? BAR_IO : (kind === 'mem64' ? BAR_MEM64 : 0) | (prefetchable ? BAR_PREFETCH : 0);
    this.#view.setUint32(offset, typeBits, true);
    const lowMask = kind === 'io' ? (~(size - 1) & ~0x3) >>> 0 : (~(Math.min(size, 2 ** 32) - 1) & ~0xf) >>> 0;
    this.#setMask(offset, 4, size >= 2 ** 32 ? 0 : lowMask);
    if (kind === 'mem64') {
      const highSize = Math.floor(size / 2 ** 32);
      this.#setMask(offset + 4, 4, highSize === 0 ? ALL_ONES : ~(highSize - 1) >>> 0);
    }
  }

  /** The BAR declared at `index`, with its current address and mapping. */
  bar(index: number): BarInfo | undefined {
    const bar = this.#bars[index];
    if (!bar) return undefined;
    const { sizingDwords: _, ...info } = bar;
    return { ...info, address: this.#barAddress(bar) };
  }

  bars(): BarInfo[] {
    return this.#bars.flatMap((b) => (b ? [this.bar(b.index)!] : []));
  }

  /**
   * Programs a BAR's address as firmware would (the VMM's initial
   * assignment); reports a mapping change if decoding is enabled.
   */
  setBarAddress(index: number, address: number): void {
    const bar = this.#bars[index];
    if (!bar) throw new RangeError(`no BAR ${index}`);
    if (!Number.isSafeInteger(address) || address < 0 || address % bar.size !== 0) throw new RangeError(`BAR ${index}: address 0x${address.toString(16)} is not aligned to its size 0x${bar.size.toString(16)}`);
    if (bar.kind !== 'mem64' && address + bar.size > 2 ** 32) throw new RangeError(`BAR ${index}: address 0x${address.toString(16)} is beyond 4 GiB`);
    const offset = PciReg.BAR0 + 4 * index;
    const typeBits = this.#view.getUint32(offset, true) & (bar.kind === 'io' ? 0x3 : 0xf);
    this.#view.setUint32(offset, ((address % 2 ** 32) | typeBits) >>> 0, true);
    if (bar.kind === 'mem64') this.#view.setUint32(offset + 4, Math.floor(address / 2 ** 32), true);
    bar.sizingDwords = 0;
    this.#updateMappings();
  }

  /**
   * Appends a capability (§6.7) and returns its offset. `body` is the
   * capability after its ID and Next bytes; `writableMask` (same length)
   * marks the bits of it the guest may write.
   */
  addCapability(id: number, body: Uint8Array, writableMask?: Uint8Array): number {
    const length = 2 + body.length;
    const offset = this.#nextCapability;
    if (offset + length > CONFIG_SPACE_SIZE) throw new RangeError(`no room for a ${length}-byte capability at 0x${offset.toString(16)}`);
    if (writableMask && writableMask.length !== body.length) throw new RangeError('capability mask and body differ in length');
    this.#bytes[offset] = id;
    this.#bytes[offset + 1] = 0;
    this.#bytes.set(body, offset + 2);
    if (writableMask) this.#writable.set(writableMask, offset + 2);
    if (this.#lastCapability === 0) this.#bytes[PciReg.CAPABILITIES_POINTER] = offset;
    else this.#bytes[this.#lastCapability + 1] = offset;
    this.#lastCapability = offset;
    this.#nextCapability = (offset + length + 3) & ~3;
    this.#view.setUint16(PciReg.STATUS, this.#view.getUint16(PciReg.STATUS, true) | PciStatus.CAPABILITIES_LIST, true);
    return offset;
  }

  /** Sets or clears the Interrupt Status bit (§6.2.3, bit 3) that mirrors INTx. */
  setInterruptStatus(asserted: boolean): void {
    const status = this.#view.getUint16(PciReg.STATUS, true);
    this.#view.setUint16(PciReg.STATUS, asserted ? status | PciStatus.INTERRUPT : status & ~PciStatus.INTERRUPT, true);
  }

  /** Direct access for the device model (capability state); bypasses write masks. */
  readU8(offset: number): number {
    return this.#bytes[offset] ?? 0;
  }

  readU16(offset: number): number {
    return offset >= 0 && offset + 2 <= CONFIG_SPACE_SIZE ? this.#view.getUint16(offset, true) : 0;
  }

  readU32(offset: number): number {
    return offset >= 0 && offset + 4 <= CONFIG_SPACE_SIZE ? this.#view.getUint32(offset, true) : 0;
  }

  setU8(offset: number, value: number): void {
    this.#bytes[offset] = value;
  }

  setU16(offset: number, value: number): void {
    this.#view.setUint16(offset, value, true);
  }

  setU32(offset: number, value: number): void {
    this.#view.setUint32(offset, value >>> 0, true);
  }

  /**
   * A config read of `data.length` bytes at `offset` (0-4095). Bytes past
   * the 256-byte conventional space read 0 (no extended capabilities).
   */
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at >= 0 && at < CONFIG_SPACE_SIZE ? this.#bytes[at]! : 0;
    }
  }

  /** A config write: only writable bits change; write-1-to-clear bits clear. */
  write(offset: number, data: Uint8Array): void {
    let touchedBarsOrCommand = false;
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (at < 0 || at >= CONFIG_SPACE_SIZE) continue;
      const value = data[i]!;
      const mask = this.#writable[at]!;
      let byte = (this.#bytes[at]! & ~mask) | (value & mask);
      byte &= ~(value & this.#writeOneToClear[at]!);
      this.#bytes[at] = byte;
      if (at === PciReg.COMMAND || at === PciReg.COMMAND + 1) touchedBarsOrCommand = true;
    }
    const firstBarDword = Math.max(0, Math.floor((offset - PciReg.BAR0) / 4));
    const lastBarDword = Math.min(BAR_COUNT - 1, Math.floor((offset + data.length - 1 - PciReg.BAR0) / 4));
    for (let slot = firstBarDword; slot <= lastBarDword; slot++) {
      const bar = this.#barOwning(slot);
      if (!bar) continue;
      touchedBarsOrCommand = true;
      // Only a whole-dword all-ones write is the sizing pattern (§6.2.5.1).
      const isSizing = data.length === 4 && offset === PciReg.BAR0 + 4 * slot && new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true) === ALL_ONES;
      const bit = 1 << (slot - bar.index);
      bar.sizingDwords = isSizing ? bar.sizingDwords | bit : bar.sizingDwords & ~bit;
    }
    if (touchedBarsOrCommand) this.#updateMappings();
  }

  /** The configuration bytes for a snapshot (what the guest programmed, and the device's own bits). */
  saveState(): { bytes: string; sizing: number[] } {
    return { bytes: toBase64(this.#bytes), sizing: this.#bars.map((b) => b?.sizingDwords ?? 0) };
  }

  /**
   * Loads a snapshot's bytes as if the guest had written them, without
   * write-1-to-clear: only guest-writable bits take the saved value, so a
   * snapshot cannot change the function's identity, BAR sizes or
   * capability layout. BAR mappings then follow, as after a config write.
   */
  restoreState(saved: unknown): void {
    const r = new StateReader(saved, 'pci config');
    const bytes = r.bytes('bytes', CONFIG_SPACE_SIZE);
    const sizing = r.array('sizing', BAR_COUNT, (v, where) => new StateReader({ v }, where).int('v', 0, 3));
    for (let at = 0; at < CONFIG_SPACE_SIZE; at++) {
      const mask = this.#writable[at]!;
      this.#bytes[at] = (this.#bytes[at]! & ~mask) | (bytes[at]! & mask);
    }
    this.#bars.forEach((bar, i) => { if (bar) bar.sizingDwords = (sizing[i] ?? 0) & (bar.kind === 'mem64' ? 3 : 1); });
    this.#updateMappings();
  }

  #barOwning(slot: number): Bar | undefined {
    const bar = this.#bars[slot];
    if (bar) return bar;
    const prev = this.#bars[slot - 1];
    return prev?.kind === 'mem64' ? prev : undefined;
  }

  #barAddress(bar: Bar): number {
    const offset = PciReg.BAR0 + 4 * bar.index;
    const low = this.#view.getUint32(offset, true);
    if (bar.kind === 'io') return (low & 0xffff_fffc) >>> 0;
    const lowAddr = (low & 0xffff_fff0) >>> 0;
    if (bar.kind === 'mem32') return lowAddr;
    return this.#view.getUint32(offset + 4, true) * 2 ** 32 + lowAddr;
  }

  #updateMappings(): void {
    // A listener (or the arbiter's owner) may re-enter through recheckMappings: run again after this pass.
    if (this.#updating) {
      this.#updateAgain = true;
      return;
    }
    this.#updating = true;
    try {
      do {
        this.#updateAgain = false;
        this.#updatePass();
      } while (this.#updateAgain);
    } finally {
      this.#updating = false;
    }
  }

  #updatePass(): void {
    const command = this.command;
    for (const bar of this.#bars) {
      if (!bar) continue;
      const enabled = (command & (bar.kind === 'io' ? PciCommand.IO_SPACE : PciCommand.MEMORY_SPACE)) !== 0;
      const address = this.#barAddress(bar);
      const limit = bar.kind === 'io' ? 0x1_0000 : bar.kind === 'mem32' ? 2 ** 32 : Number.MAX_SAFE_INTEGER;
      const usable = enabled && bar.sizingDwords === 0 && address !== 0 && address + bar.size <= limit;
      // An unchanged mapping stays; a new one must pass the arbiter.
      const allowed = usable && (address === bar.mappedAt || !this.#arbiter || this.#arbiter(bar, address));
      bar.refused = usable && !allowed;
      const to = allowed ? address : null;
      if (to === bar.mappedAt) continue;
      const change: BarChange = { index: bar.index, kind: bar.kind, size: bar.size, from: bar.mappedAt, to };
      bar.mappedAt = to;
      for (const listener of this.#listeners) listener(change);
    }
  }

  #setMask(offset: number, length: number, mask: number): void {
    for (let i = 0; i < length; i++) this.#writable[offset + i] = (mask >>> (8 * i)) & 0xff;
  }
}
