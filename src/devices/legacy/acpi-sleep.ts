/**
 * The hardware-reduced ACPI sleep control and status registers
 * (ACPI 6.5, 4.8.3.7): the guest powers off by writing SLP_TYP = S5 with
 * SLP_EN to the control register, and resets by writing the FADT's reset
 * value to it. Port numbers come from src/arch/x86/acpi/layout.ts.
 */
import type { BusDevice } from '../../bus/bus.js';
import { interpretSleepControlWrite } from '../../arch/x86/acpi/sleep-control.js';

export interface AcpiSleepOptions {
  onPowerOff: () => void;
  onReset: () => void;
}

export class AcpiSleepControl implements BusDevice {
  readonly #opts: AcpiSleepOptions;
  constructor(opts: AcpiSleepOptions) {
    this.#opts = opts;
  }

  /** Offset 0 is the control register, 1 the status register; both read as 0 (never woken). */
  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== 0 || data.length === 0) return;
    const action = interpretSleepControlWrite(data[0]!);
    if (action === 'poweroff') this.#opts.onPowerOff();
    else if (action === 'reset') this.#opts.onReset();
  }
}
