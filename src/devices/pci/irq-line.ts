/**
 * A level-sensitive interrupt line shared by several PCI functions. INTx#
 * is open-drain and wire-ORed (PCI 3.0 §2.2.6): the line is asserted
 * while any function on it asserts, and drops only when none does. Each
 * function drives its own source; the line tells the irqchip only about
 * changes of the ORed level. No allocation on the assert/deassert path.
 */

/** One function's connection to a shared line. */
export interface IrqLineSource {
  readonly irq: number;
  /** This source asserts (true) or releases (false) the line. */
  set(level: boolean): void;
  readonly level: boolean;
}

export class SharedIrqLine {
  readonly irq: number;
  readonly #drive: (level: boolean) => void;
  /** How many sources assert now. */
  #asserted = 0;

  /** `drive` sets the irqchip's line (Vm.setIrqLine(irq, level) in the VMM); it hears changes only. */
  constructor(irq: number, drive: (level: boolean) => void) {
    this.irq = irq;
    this.#drive = drive;
  }

  /** The ORed level. */
  get level(): boolean {
    return this.#asserted > 0;
  }

  /** Connects one more function to the line. */
  source(): IrqLineSource {
    const change = (assert: boolean): void => {
      this.#asserted += assert ? 1 : -1;
      if (assert ? this.#asserted === 1 : this.#asserted === 0) this.#drive(assert);
    };
    let level = false;
    return {
      irq: this.irq,
      get level() { return level; },
      set(next: boolean): void {
        if (next === level) return;
        level = next;
        change(next);
      },
    };
  }
}

/** The shared lines of one VM, one per IRQ, made on first use. */
export class SharedIrqLines {
  readonly #lines = new Map<number, SharedIrqLine>();
  readonly #drive: (irq: number, level: boolean) => void;

  constructor(drive: (irq: number, level: boolean) => void) {
    this.#drive = drive;
  }

  line(irq: number): SharedIrqLine {
    let line = this.#lines.get(irq);
    if (!line) {
      line = new SharedIrqLine(irq, (level) => this.#drive(irq, level));
      this.#lines.set(irq, line);
    }
    return line;
  }

  /** A new source on `irq`'s line, for one more function. */
  source(irq: number): IrqLineSource {
    return this.line(irq).source();
  }
}
