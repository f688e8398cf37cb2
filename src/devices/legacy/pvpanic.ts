/**
 * pvpanic, QEMU's paravirtual panic device (docs/specs/pvpanic.rst in QEMU):
 * one I/O port; reading it returns the events the device supports, and the
 * guest writes an event when it panics. Linux's pvpanic-mmio driver finds it
 * through the ACPI device QEMU0001 in the DSDT (see `pvpanicAml`).
 */
import type { BusDevice } from '../../bus/bus.js';
import * as aml from '../../arch/x86/acpi/aml.js';

/** QEMU's default pvpanic port. */
export const PVPANIC_PORT = 0x505;
export const PVPANIC_PANICKED = 1 << 0;
export const PVPANIC_CRASH_LOADED = 1 << 1;

export interface PvpanicOptions {
  /** The guest kernel panicked (or loaded a crash kernel after one). */
  onPanic: (event: 'panicked' | 'crash-loaded') => void;
}

export class Pvpanic implements BusDevice {
  readonly #opts: PvpanicOptions;
  constructor(opts: PvpanicOptions) {
    this.#opts = opts;
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
    data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== 0 || data.length === 0) return;
    const value = data[0]!;
    if (value & PVPANIC_PANICKED) this.#opts.onPanic('panicked');
    else if (value & PVPANIC_CRASH_LOADED) this.#opts.onPanic('crash-loaded');
  }
}

/** Device (PEVT) { _HID "QEMU0001", _CRS IO(0x505, 1) }, for the DSDT's \_SB_ scope. */
export function pvpanicAml(port = PVPANIC_PORT): Uint8Array {
  return aml.device('PEVT', [
    aml.name('_HID', aml.string('QEMU0001')),
    aml.name('_CRS', aml.resourceTemplate([aml.io(port, port, 1, 1)])),
  ]);
}
