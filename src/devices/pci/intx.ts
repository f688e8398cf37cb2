/**
 * A function's INTx# line (PCI 3.0 §2.2.6), wired to a legacy IRQ of the
 * in-kernel PIC/IOAPIC: level-sensitive and shared (the VMM gives each
 * function its own source on a SharedIrqLine, irq-line.ts), asserted
 * while the device has an interrupt reason and deasserted when the driver
 * acknowledges it. The Interrupt Disable command bit masks the line and
 * the Interrupt Status bit mirrors the device's request (§6.2.2, §6.2.3).
 */
import type { PciConfigSpace } from './config-space.js';
import { PciCommand } from './constants.js';

export class PciIntx {
  readonly irq: number;
  readonly #setLevel: (level: boolean) => void;
  readonly #config: PciConfigSpace;
  #requested = false;
  #level = false;

  /** `setLevel` drives this function's contribution to the line (a SharedIrqLine source in the VMM). */
  constructor(config: PciConfigSpace, irq: number, setLevel: (level: boolean) => void) {
    this.irq = irq;
    this.#config = config;
    this.#setLevel = setLevel;
  }

  get requested(): boolean {
    return this.#requested;
  }

  get level(): boolean {
    return this.#level;
  }

  /** The device wants (true) or no longer wants (false) an interrupt. */
  request(asserted: boolean): void {
    this.#requested = asserted;
    this.update();
  }

  /** Re-evaluates the line; call after COMMAND changes. */
  update(): void {
    this.#config.setInterruptStatus(this.#requested);
    const level = this.#requested && (this.#config.command & PciCommand.INTX_DISABLE) === 0;
    if (level === this.#level) return;
    this.#level = level;
    this.#setLevel(level);
  }
}
