/**
 * The VM's device address spaces: a port-I/O bus and an MMIO bus, served in
 * the main thread, plus the summaries vCPU threads use to decide locally
 * whether an access needs a device at all.
 */
import { Bus, type BusDevice } from '../bus/bus.js';
import { AccessKind } from './mailbox.js';
import * as log from '../util/log.js';

export interface DeviceCounters {
  name: string;
  counters: () => Record<string, number>;
}

export class DeviceManager {
  readonly pio = new Bus('pio');
  readonly mmio = new Bus('mmio');
  readonly #stats: DeviceCounters[] = [];

  addPio(base: number, length: number, name: string, device: BusDevice): void {
    if (base + length > 0x10000) throw new RangeError(`${name}: port range 0x${base.toString(16)}+${length} exceeds 0xffff`);
    this.pio.insert(base, length, name, device);
  }

  addMmio(base: number, length: number, name: string, device: BusDevice): void {
    this.mmio.insert(base, length, name, device);
  }

  /** Registers a device's counters for `tkvm stat`. */
  addStats(entry: DeviceCounters): void {
    this.#stats.push(entry);
  }

  stats(): Array<{ name: string; counters: Record<string, number> }> {
    return this.#stats.map((s) => ({ name: s.name, counters: s.counters() }));
  }

  /** One byte per port, 1 where a device is registered (shared with vCPU threads). */
  claimedPorts(): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(0x10000);
    const bytes = new Uint8Array(sab);
    for (const r of this.pio.ranges()) bytes.fill(1, r.base, r.base + r.length);
    return sab;
  }

  mmioRanges(): Array<[number, number]> {
    return this.mmio.ranges().map((r) => [r.base, r.length]);
  }

  /** Mailbox entry point: dispatches one forwarded access. */
  readonly handleAccess = (kind: AccessKind, addr: number, data: Uint8Array): void => {
    let claimed: boolean;
    switch (kind) {
      case AccessKind.PioRead: claimed = this.pio.read(addr, data); break;
      case AccessKind.PioWrite: claimed = this.pio.write(addr, data); break;
      case AccessKind.MmioRead: claimed = this.mmio.read(addr, data); break;
      case AccessKind.MmioWrite: claimed = this.mmio.write(addr, data); break;
      default: claimed = false;
    }
    if (!claimed) log.debug(`no device at ${kind <= AccessKind.PioWrite ? 'port' : 'MMIO'} 0x${addr.toString(16)}`);
  };
}
