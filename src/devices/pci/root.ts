/**
 * PCI bus 0 and the ways a guest reaches it (PCI 3.0 §3.2.2.3.2):
 * configuration mechanism #1 through I/O ports 0xCF8 (CONFIG_ADDRESS) and
 * 0xCFC-0xCFF (CONFIG_DATA), the PCIe ECAM window (PCIe 3.0 §7.2.2), and
 * the MMIO window in which memory BARs decode.
 *
 * The BAR window is one BusDevice over the whole range, so the VMM
 * registers it once and a guest that moves a BAR inside the window needs
 * no bus re-registration; BAR change listeners still hear every move (the
 * VMM and devices re-register ioeventfds there). Absent functions read as
 * all ones (vendor 0xFFFF), writes to them are dropped, and reads of
 * unclaimed window addresses return all ones (master abort).
 *
 * Overlapping BARs (PCI 3.0 §6.2.5.1 leaves the result undefined) are
 * refused: a BAR that a guest programs over another function's BAR, or
 * over a range the root reserves (ECAM, the config ports), stays unmapped
 * (no decoder, no ioeventfds) until it is moved somewhere free or the
 * other BAR moves away. Each function logs at most one line a minute about it.
 */
import type { BusDevice } from '../../bus/bus.js';
import type { BarChange, BarKind } from './config-space.js';
import type { PciDevice } from './device.js';
import { PciHostBridge } from './host-bridge.js';
import {
  HOST_BRIDGE_SLOT, PCI_CONFIG_IO_LENGTH, PCI_CONFIG_IO_PORT, PCI_ECAM_BASE, PCI_ECAM_SIZE, PCI_MMIO_WINDOW_BASE,
  PCI_MMIO_WINDOW_SIZE, PCI_SLOTS,
} from './layout.js';
import * as log from '../../util/log.js';

/** CONFIG_ADDRESS bit 31: CONFIG_DATA accesses become config cycles. */
const CONFIG_ENABLE = 0x8000_0000;
/** Bits CONFIG_ADDRESS keeps: enable, bus, device, function, register (bits 30-24 and 1-0 read 0). */
const CONFIG_ADDRESS_MASK = 0x80ff_fffc;
/** The Reset Control Register at 0xCF9 (Intel PIIX/ICH); bit 2 requests a CPU reset. */
const RESET_CONTROL_OFFSET = 1;
const RESET_CPU = 0x4;

export interface PciRootOptions {
  /** The memory BAR window (default PCI_MMIO_WINDOW_BASE/SIZE). */
  mmioWindow?: { base: number; size: number };
  /** Ranges no BAR may decode over, besides ECAM and the config ports (e.g. the IOAPIC). */
  reserved?: readonly ReservedRange[];
  /** Where refused decodes are reported (default: the operator log at warn). */
  warn?: (message: string) => void;
}

/** An address range owned by something other than a BAR. */
export interface ReservedRange {
  space: 'mem' | 'io';
  base: number;
  size: number;
  name: string;
}

/** At most one line about refused decodes per function per interval. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

interface Decoder {
  start: number;
  end: number;
  device: PciDevice;
  bar: number;
}

export type PciBarListener = (slot: number, device: PciDevice, change: BarChange) => void;

export class PciRoot {
  readonly #slots: Array<PciDevice | undefined> = new Array(PCI_SLOTS).fill(undefined);
  readonly #listeners: PciBarListener[] = [];
  #decoders: Decoder[] = [];
  readonly #reserved: ReservedRange[];
  readonly #warn: (message: string) => void;
  /** Per function: when its last refusal line was logged, and refusals since. */
  readonly #refusalLog = new Map<PciDevice, { at: number; suppressed: number }>();
  #settling = false;
  #settleAgain = false;
  readonly windowBase: number;
  readonly windowSize: number;
  /** Configuration mechanism #1: register at PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_LENGTH ports. */
  readonly configIo: PciConfigIo;
  /** ECAM for bus 0: register at PCI_ECAM_BASE, PCI_ECAM_SIZE bytes. */
  readonly ecam: BusDevice;
  /** Memory BAR window: register at windowBase, windowSize bytes. */
  readonly mmioWindow: BusDevice;

  constructor(options: PciRootOptions = {}) {
    this.windowBase = options.mmioWindow?.base ?? PCI_MMIO_WINDOW_BASE;
    this.windowSize = options.mmioWindow?.size ?? PCI_MMIO_WINDOW_SIZE;
    this.#reserved = [
      { space: 'mem', base: PCI_ECAM_BASE, size: PCI_ECAM_SIZE, name: 'ECAM' },
      { space: 'io', base: PCI_CONFIG_IO_PORT, size: PCI_CONFIG_IO_LENGTH, name: 'PCI config ports' },
      ...(options.reserved ?? []),
    ];
    this.#warn = options.warn ?? log.warn;
    this.configIo = new PciConfigIo(this);
    this.ecam = new PciEcam(this);
    this.mmioWindow = new PciMmioWindow(this);
    this.addDevice(new PciHostBridge(), HOST_BRIDGE_SLOT);
  }

  /** Plugs `device` into `slot` (default: the first free one); returns the slot. */
  addDevice(device: PciDevice, slot?: number): number {
    const at = slot ?? this.#slots.findIndex((d) => d === undefined);
    if (!Number.isInteger(at) || at < 0 || at >= PCI_SLOTS) throw new RangeError(`${device.name}: no free PCI slot on bus 0`);
    if (this.#slots[at]) throw new RangeError(`${device.name}: PCI slot ${at} is taken by ${this.#slots[at]!.name}`);
    this.#slots[at] = device;
    device.config.onBarChange((change) => {
      this.#rebuildDecoders();
      for (const l of this.#listeners) l(at, device, change);
      // A BAR left a range: BARs refused because of it may decode now.
      if (change.from !== null) this.#settle();
    });
    device.config.setDecodeArbiter((bar, addr) => this.#mayDecode(device, bar, addr));
    this.#rebuildDecoders();
    return at;
  }

  device(slot: number): PciDevice | undefined {
    return this.#slots[slot];
  }

  devices(): Array<{ slot: number; device: PciDevice }> {
    return this.#slots.flatMap((device, slot) => (device ? [{ slot, device }] : []));
  }

  /** Hears every BAR mapping change of every function. */
  onBarChange(listener: PciBarListener): void {
    this.#listeners.push(listener);
  }

  /**
   * A config read of `data.length` bytes at `offset` of bus/device/function;
   * accesses are split at dword boundaries. Absent functions read all ones.
   */
  readConfig(bus: number, slot: number, fn: number, offset: number, data: Uint8Array): void {
    const device = this.#function(bus, slot, fn);
    forEachDwordPiece(offset, data, (at, piece) => {
      if (device && at >= 0 && at < 4096) device.readConfig(at, piece);
      else piece.fill(0xff);
    });
  }

  writeConfig(bus: number, slot: number, fn: number, offset: number, data: Uint8Array): void {
    const device = this.#function(bus, slot, fn);
    if (!device) return;
    forEachDwordPiece(offset, data, (at, piece) => {
      if (at >= 0 && at < 4096) device.writeConfig(at, piece);
    });
  }

  /** A memory access at guest-physical `addr` inside the window. */
  readMmio(addr: number, data: Uint8Array): void {
    const d = this.#decoderAt(addr);
    if (d) d.device.readBar(d.bar, addr - d.start, data);
    else data.fill(0xff);
  }

  writeMmio(addr: number, data: Uint8Array): void {
    const d = this.#decoderAt(addr);
    if (d) d.device.writeBar(d.bar, addr - d.start, data);
  }

  #function(bus: number, slot: number, fn: number): PciDevice | undefined {
    // Bus 0 only; every function is single-function (function 0).
    if (bus !== 0 || fn !== 0) return undefined;
    return this.#slots[slot];
  }

  #decoderAt(addr: number): Decoder | undefined {
    for (const d of this.#decoders) if (addr >= d.start && addr < d.end) return d;
    return undefined;
  }

  /** May `device`'s BAR decode at [addr, addr + size)? Not over a reserved range or another mapped BAR. */
  #mayDecode(device: PciDevice, bar: { index: number; kind: BarKind; size: number }, addr: number): boolean {
    const space = bar.kind === 'io' ? 'io' : 'mem';
    const end = addr + bar.size;
    let clash: string | undefined;
    for (const r of this.#reserved) {
      if (r.space === space && addr < r.base + r.size && r.base < end) {
        clash = r.name;
        break;
      }
    }
    for (const other of this.#slots) {
      if (!other || clash) continue;
      for (const b of other.config.bars()) {
        if ((other === device && b.index === bar.index) || b.mappedAt === null || (b.kind === 'io') !== (space === 'io')) continue;
        if (addr < b.mappedAt + b.size && b.mappedAt < end) {
          clash = `${other.name} BAR ${b.index}`;
          break;
        }
      }
    }
    if (clash === undefined) return true;
    this.#logRefusal(device, `${device.name}: BAR ${bar.index} at 0x${addr.toString(16)}+0x${bar.size.toString(16)} overlaps ${clash}; it does not decode while it overlaps`);
    return false;
  }

  #logRefusal(device: PciDevice, message: string): void {
    const now = Date.now();
    const entry = this.#refusalLog.get(device);
    if (entry && now - entry.at < REFUSAL_LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    const more = entry && entry.suppressed > 0 ? ` (${entry.suppressed} more refused since the last line)` : '';
    this.#refusalLog.set(device, { at: now, suppressed: 0 });
    this.#warn(message + more);
  }

  /** Lets every function re-try refused decodes until nothing changes. */
  #settle(): void {
    if (this.#settling) {
      this.#settleAgain = true;
      return;
    }
    this.#settling = true;
    try {
      do {
        this.#settleAgain = false;
        for (const device of this.#slots) if (device?.config.bars().some((b) => b.refused)) device.config.recheckMappings();
      } while (this.#settleAgain);
    } finally {
      this.#settling = false;
    }
  }

  #rebuildDecoders(): void {
    const decoders: Decoder[] = [];
    for (const device of this.#slots) {
      if (!device) continue;
      for (const bar of device.config.bars()) {
        if (bar.kind === 'io' || bar.mappedAt === null) continue;
        decoders.push({ start: bar.mappedAt, end: bar.mappedAt + bar.size, device, bar: bar.index });
      }
    }
    this.#decoders = decoders;
  }
}

/** Calls `fn` for each part of an access at `offset` that lies within one dword. */
function forEachDwordPiece(offset: number, data: Uint8Array, fn: (at: number, piece: Uint8Array) => void): void {
  let i = 0;
  while (i < data.length) {
    const at = offset + i;
    const n = Math.min(data.length - i, 4 - (at & 3));
    fn(at, data.subarray(i, i + n));
    i += n;
  }
}

/** I/O ports 0xCF8-0xCFF (configuration mechanism #1). */
export class PciConfigIo implements BusDevice {
  readonly #root: PciRoot;
  #address = 0;
  /** Called when the guest writes RST_CPU to the Reset Control Register (0xCF9). */
  onResetRequest: (() => void) | undefined;

  constructor(root: PciRoot) {
    this.#root = root;
  }

  /** The CONFIG_ADDRESS register as last written (masked). */
  get address(): number {
    return this.#address;
  }

  read(offset: number, data: Uint8Array): void {
    if (offset === 0 && data.length === 4) {
      new DataView(data.buffer, data.byteOffset, 4).setUint32(0, this.#address, true);
      return;
    }
    if (offset < 4) {
      // Narrow accesses to 0xCF8-0xCFB are not CONFIG_ADDRESS (this also fails Linux's type 2 probe).
      data.fill(0xff);
      return;
    }
    this.#data(offset - 4, data, false);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset === 0 && data.length === 4) {
      this.#address = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true) & CONFIG_ADDRESS_MASK;
      this.#address >>>= 0;
      return;
    }
    if (offset === RESET_CONTROL_OFFSET && data.length === 1) {
      if (data[0]! & RESET_CPU) this.onResetRequest?.();
      return;
    }
    if (offset >= 4) this.#data(offset - 4, data, true);
  }

  #data(byte: number, data: Uint8Array, isWrite: boolean): void {
    const a = this.#address;
    // Bytes of the access beyond 0xCFF are not CONFIG_DATA.
    const inside = data.subarray(0, Math.max(0, 4 - byte));
    if (!isWrite) data.fill(0xff);
    if ((a & CONFIG_ENABLE) === 0 || inside.length === 0) return;
    const bus = (a >>> 16) & 0xff;
    const slot = (a >>> 11) & 0x1f;
    const fn = (a >>> 8) & 0x7;
    const offset = (a & 0xfc) + byte;
    if (isWrite) this.#root.writeConfig(bus, slot, fn, offset, inside);
    else this.#root.readConfig(bus, slot, fn, offset, inside);
  }
}

/** ECAM: offset = bus << 20 | device << 15 | function << 12 | register. */
class PciEcam implements BusDevice {
  readonly #root: PciRoot;

  constructor(root: PciRoot) {
    this.#root = root;
  }

  read(offset: number, data: Uint8Array): void {
    forEachDwordPiece(offset, data, (at, piece) => {
      const { bus, slot, fn, reg } = decodeEcam(at);
      this.#root.readConfig(bus, slot, fn, reg, piece);
    });
  }

  write(offset: number, data: Uint8Array): void {
    forEachDwordPiece(offset, data, (at, piece) => {
      const { bus, slot, fn, reg } = decodeEcam(at);
      this.#root.writeConfig(bus, slot, fn, reg, piece);
    });
  }
}

/** Splits an ECAM offset into bus, device, function and register. */
export function decodeEcam(offset: number): { bus: number; slot: number; fn: number; reg: number } {
  return { bus: Math.floor(offset / 2 ** 20) & 0xff, slot: (offset >>> 15) & 0x1f, fn: (offset >>> 12) & 0x7, reg: offset & 0xfff };
}

class PciMmioWindow implements BusDevice {
  readonly #root: PciRoot;

  constructor(root: PciRoot) {
    this.#root = root;
  }

  read(offset: number, data: Uint8Array): void {
    this.#root.readMmio(this.#root.windowBase + offset, data);
  }

  write(offset: number, data: Uint8Array): void {
    this.#root.writeMmio(this.#root.windowBase + offset, data);
  }
}
