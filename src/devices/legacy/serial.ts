/**
 * 16550A UART (National Semiconductor PC16550D datasheet), as used for COM1.
 *
 * Transmission is instantaneous while the output can take bytes: a THR write
 * hands the byte to `onOutput` and the transmitter is empty again (LSR
 * THRE/TEMT read 1). Flow control: while `outputBlocked()` says the host side
 * holds enough, THRE/TEMT read 0 and no THRE interrupt is raised, so a driver
 * waits; what it writes anyway goes into the 16-byte transmit FIFO, and past
 * that is lost (an overrun, as on real hardware), so memory stays bounded.
 * `transmitterReady()` (the output drained) sends the FIFO and makes THR
 * empty again, with its interrupt. The receiver
 * has the 16550A's 16-byte FIFO (1-byte holding register while FIFOs are
 * disabled); host input that does not fit is dropped and reported as an
 * overrun (LSR OE), as on real hardware. The interrupt output is a level:
 * `setIrqLevel` is called whenever "some enabled interrupt is pending" changes.
 * The line is not gated by MCR OUT2 (neither QEMU nor Firecracker gate it;
 * Linux sets OUT2 anyway).
 *
 * Linux's 8250 autoconfig (drivers/tty/serial/8250/8250_port.c) identifies
 * this model as a 16550A: IER bits 7:4 read 0, the loopback MSR test reads
 * DCD|CTS for MCR = LOOP|OUT2|RTS, IIR bits 7:6 read 0xC0 once FIFOs are on,
 * offset 2 reads IIR (never 0) whatever LCR holds (no EFR), FCR bit 5 does not
 * show in IIR, and the loopback FIFO holds exactly 16 bytes.
 */
import type { BusDevice } from '../../bus/bus.js';
import { readBytewise, writeBytewise } from './byte-access.js';

/** Register offsets (datasheet table II). With LCR DLAB set, 0 and 1 are DLL/DLM. */
const REG_DATA = 0; // RBR (read), THR (write), DLL (DLAB)
const REG_IER = 1; // IER, DLM (DLAB)
const REG_IIR_FCR = 2; // IIR (read), FCR (write)
const REG_LCR = 3;
const REG_MCR = 4;
const REG_LSR = 5;
const REG_MSR = 6;
const REG_SCR = 7;

/** Interrupt Enable Register bits. */
const IER_RDA = 0x01;
const IER_THRE = 0x02;
const IER_RLS = 0x04;
const IER_MS = 0x08;
const IER_MASK = 0x0f;

/** Interrupt Identification values (bits 3:0), in priority order. */
const IIR_NO_INT = 0x01;
const IIR_RLS = 0x06;
const IIR_RDA = 0x04;
const IIR_CHAR_TIMEOUT = 0x0c;
const IIR_THRE = 0x02;
const IIR_MS = 0x00;
const IIR_FIFOS_ENABLED = 0xc0;

const FCR_FIFO_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
/** FCR bits 7:6 select the receiver trigger level. */
const RX_TRIGGER_LEVELS = [1, 4, 8, 14] as const;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
const MCR_MASK = 0x1f;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_FIFO_ERROR = 0x80;
/** The error bits that raise a receiver line status interrupt and clear on LSR read. */
const LSR_ERROR_BITS = 0x1e;

const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
const MSR_DELTA_BITS = 0x0f;
/** Modem inputs when not in loopback: a null-modem peer that is always ready. */
const MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS;

/** The 16550A receiver FIFO depth. */
export const SERIAL_FIFO_SIZE = 16;
/** A receive-FIFO entry flag: this entry is a break condition (received as 0x00). */
const ENTRY_BREAK = 0x100;

export interface Serial16550Options {
  /** Called with each byte the guest transmits, in order. */
  onOutput: (byte: number) => void;
  /** Called whenever the interrupt output changes (level semantics). */
  setIrqLevel: (level: boolean) => void;
  /**
   * Called when the guest has emptied the receive FIFO (or cleared it, or left
   * loopback mode), so a console can feed more input without overrunning it.
   */
  onInputSpace?: () => void;
  /**
   * True while the receiver of output holds as much as it may; the UART then
   * stops emptying THR until transmitterReady(). Called after each byte sent.
   */
  outputBlocked?: () => boolean;
  /** The UART became blocked: arrange for transmitterReady() once output drains. */
  onOutputBlocked?: () => void;
}

export interface SerialStats {
  /** Host input bytes accepted into the receive FIFO. */
  bytesIn: number;
  /** Bytes the guest transmitted to `onOutput`. */
  bytesOut: number;
  /** Host input bytes dropped because the receive FIFO was full. */
  overruns: number;
  /** Break conditions delivered with sendBreak(). */
  breaks: number;
}

/** A side-effect-free view of the registers, for tests and debugging. */
export interface SerialRegisterView {
  ier: number;
  iir: number;
  lcr: number;
  mcr: number;
  lsr: number;
  msr: number;
  rxCount: number;
  irqLevel: boolean;
}

export class Serial16550 implements BusDevice {
  readonly #onOutput: (byte: number) => void;
  readonly #setIrqLevel: (level: boolean) => void;
  #onInputSpace: (() => void) | undefined;
  readonly #outputBlocked: (() => boolean) | undefined;
  readonly #onOutputBlocked: (() => void) | undefined;
  /** Flow control holds the transmitter: THR is not emptied. */
  #txBlocked = false;
  /** Transmit FIFO while blocked (16550A: 16 bytes). */
  readonly #tx = new Uint8Array(SERIAL_FIFO_SIZE);
  #txCount = 0;
  #txDropped = 0;

  #ier = 0;
  #lcr = 0;
  #mcr = 0;
  #scr = 0;
  /** Divisor latch; 12 is 9600 baud with the PC's 1.8432 MHz clock. */
  #dll = 12;
  #dlm = 0;
  #fifosEnabled = false;
  #rxTrigger = 1;
  /** Latched LSR error bits (OE, BI); cleared by reading LSR. */
  #lsrErrors = 0;
  /** The THR-empty interrupt condition (datasheet table IV: cleared by IIR read or THR write). */
  #thrEmptyPending = false;
  /** MSR status bits 7:4 and delta bits 3:0. */
  #msr = MSR_CONNECTED;
  #irqLevel = false;

  /** Receive FIFO: a ring of entries (byte | ENTRY_BREAK). */
  readonly #rx = new Uint16Array(SERIAL_FIFO_SIZE);
  #rxHead = 0;
  #rxCount = 0;

  #bytesIn = 0;
  #bytesOut = 0;
  #overruns = 0;
  #breaks = 0;

  constructor(options: Serial16550Options) {
    this.#onOutput = options.onOutput;
    this.#setIrqLevel = options.setIrqLevel;
    this.#onInputSpace = options.onInputSpace;
    this.#outputBlocked = options.outputBlocked;
    this.#onOutputBlocked = options.onOutputBlocked;
  }

  /** The output drained: send what the transmit FIFO holds, and THR is empty again (with its interrupt). */
  transmitterReady(): void {
    if (!this.#txBlocked) return;
    this.#txBlocked = false;
    for (let i = 0; i < this.#txCount; i++) {
      this.#bytesOut++;
      this.#onOutput(this.#tx[i]!);
    }
    this.#txCount = 0;
    if (this.#checkBlocked()) return;
    this.#thrEmptyPending = true;
    this.#updateIrq();
  }

  /** Bytes written while the transmit FIFO was full (lost). */
  get transmitOverruns(): number {
    return this.#txDropped;
  }

  #checkBlocked(): boolean {
    if (this.#outputBlocked?.() !== true) return false;
    this.#txBlocked = true;
    this.#onOutputBlocked?.();
    return true;
  }

  read(offset: number, data: Uint8Array): void {
    readBytewise(offset, data, (reg) => this.#readRegister(reg));
  }

  write(offset: number, data: Uint8Array): void {
    writeBytewise(offset, data, (reg, value) => this.#writeRegister(reg, value));
  }

  /**
   * Queues host input for the guest. Returns how many bytes were accepted;
   * the rest are dropped, counted as overruns and flagged in LSR OE. In
   * loopback mode the receiver is disconnected from the line and accepts none
   * (and counts no overrun). Use inputSpace() to avoid drops.
   */
  enqueueInput(bytes: Uint8Array): number {
    if (this.#loopback) return 0;
    let accepted = 0;
    for (const byte of bytes) {
      if (this.#pushRx(byte & 0xff)) accepted++;
      else this.#overruns++;
    }
    this.#bytesIn += accepted;
    this.#updateIrq();
    return accepted;
  }

  /** Sets (replaces) the onInputSpace callback; SerialConsole.attach() uses it. */
  setInputSpaceListener(listener: () => void): void {
    this.#onInputSpace = listener;
  }

  /** How many more host bytes the receive FIFO can take now. */
  inputSpace(): number {
    return this.#loopback ? 0 : this.#rxCapacity - this.#rxCount;
  }

  /**
   * Delivers a break condition: a 0x00 entry that shows LSR BI (and raises a
   * receiver line status interrupt) when it reaches the head of the FIFO.
   * Linux treats the next character after a break as a magic SysRq key.
   * Returns false (an overrun) when the FIFO is full or in loopback mode.
   */
  sendBreak(): boolean {
    if (this.#loopback) return false;
    const accepted = this.#pushRx(ENTRY_BREAK);
    if (accepted) this.#breaks++;
    else this.#overruns++;
    this.#updateIrq();
    return accepted;
  }

  stats(): SerialStats {
    return { bytesIn: this.#bytesIn, bytesOut: this.#bytesOut, overruns: this.#overruns, breaks: this.#breaks };
  }

  /** Register values as the guest would read them, without read side effects. */
  peekRegisters(): SerialRegisterView {
    return {
      ier: this.#ier,
      iir: this.#iir(),
      lcr: this.#lcr,
      mcr: this.#mcr,
      lsr: this.#lsr(),
      msr: this.#msr,
      rxCount: this.#rxCount,
      irqLevel: this.#irqLevel,
    };
  }

  get #loopback(): boolean {
    return (this.#mcr & MCR_LOOP) !== 0;
  }

  get #dlab(): boolean {
    return (this.#lcr & LCR_DLAB) !== 0;
  }

  get #rxCapacity(): number {
    return this.#fifosEnabled ? SERIAL_FIFO_SIZE : 1;
  }

  #readRegister(reg: number): number {
    switch (reg) {
      case REG_DATA:
        return this.#dlab ? this.#dll : this.#readRbr();
      case REG_IER:
        return this.#dlab ? this.#dlm : this.#ier;
      case REG_IIR_FCR:
        return this.#readIir();
      case REG_LCR:
        return this.#lcr;
      case REG_MCR:
        return this.#mcr;
      case REG_LSR: {
        const lsr = this.#lsr();
        this.#lsrErrors = 0;
        this.#updateIrq();
        return lsr;
      }
      case REG_MSR: {
        const msr = this.#msr;
        this.#msr &= ~MSR_DELTA_BITS;
        this.#updateIrq();
        return msr;
      }
      case REG_SCR:
        return this.#scr;
      default:
        return 0xff;
    }
  }

  #writeRegister(reg: number, value: number): void {
    switch (reg) {
      case REG_DATA:
        if (this.#dlab) this.#dll = value;
        else this.#writeThr(value);
        return;
      case REG_IER:
        if (this.#dlab) this.#dlm = value;
        else this.#writeIer(value);
        return;
      case REG_IIR_FCR:
        this.#writeFcr(value);
        return;
      case REG_LCR:
        this.#lcr = value;
        return;
      case REG_MCR:
        this.#writeMcr(value);
        return;
      case REG_SCR:
        this.#scr = value;
        return;
      default:
        // LSR and MSR writes (factory test only) and offsets past the UART: ignored.
        return;
    }
  }

  #readRbr(): number {
    if (this.#rxCount === 0) return 0;
    const entry = this.#rx[this.#rxHead]!;
    this.#rxHead = (this.#rxHead + 1) % SERIAL_FIFO_SIZE;
    this.#rxCount--;
    // The next entry's error flags show in LSR once it is at the head.
    if (this.#rxCount > 0 && (this.#rx[this.#rxHead]! & ENTRY_BREAK) !== 0) this.#lsrErrors |= LSR_BI;
    this.#updateIrq();
    if (this.#rxCount === 0) this.#onInputSpace?.();
    return entry & 0xff;
  }

  #readIir(): number {
    const iir = this.#iir();
    // Reading IIR while it reports THR empty clears that interrupt (table IV).
    if ((iir & 0x0f) === IIR_THRE) {
      this.#thrEmptyPending = false;
      this.#updateIrq();
    }
    return iir;
  }

  #writeThr(value: number): void {
    this.#thrEmptyPending = false;
    this.#updateIrq();
    if (this.#loopback) {
      // Loopback: the transmitter feeds the receiver; a full FIFO overruns.
      this.#pushRx(value);
    } else if (this.#txBlocked) {
      if (this.#txCount < SERIAL_FIFO_SIZE) this.#tx[this.#txCount++] = value;
      else this.#txDropped++;
      return;
    } else {
      this.#bytesOut++;
      this.#onOutput(value);
      if (this.#checkBlocked()) return;
    }
    // The byte left at once: THR is empty again and interrupts anew.
    this.#thrEmptyPending = true;
    this.#updateIrq();
  }

  #writeIer(value: number): void {
    const previous = this.#ier;
    this.#ier = value & IER_MASK;
    // Enabling the THRE interrupt while THR is empty raises it at once (Linux's
    // TXEN and THRE-reassertion tests in serial8250_do_startup rely on this).
    if ((previous ^ this.#ier) & IER_THRE) this.#thrEmptyPending = (this.#ier & IER_THRE) !== 0 && !this.#txBlocked;
    this.#updateIrq();
  }

  #writeFcr(value: number): void {
    const enable = (value & FCR_FIFO_ENABLE) !== 0;
    const hadInput = this.#rxCount > 0;
    // Changing the FIFO enable bit resets both FIFOs.
    if (enable !== this.#fifosEnabled) this.#clearRx();
    this.#fifosEnabled = enable;
    // Bits 7:1 are only programmed while bit 0 is set.
    if (enable) {
      if (value & FCR_CLEAR_RX) this.#clearRx();
      this.#rxTrigger = RX_TRIGGER_LEVELS[(value >> 6) & 3]!;
    }
    this.#updateIrq();
    if (hadInput && this.#rxCount === 0) this.#onInputSpace?.();
  }

  #writeMcr(value: number): void {
    const wasLoopback = this.#loopback;
    this.#mcr = value & MCR_MASK;
    this.#updateModemStatus();
    this.#updateIrq();
    if (wasLoopback && !this.#loopback) this.#onInputSpace?.();
  }

  /** Recomputes MSR status bits and latches delta bits for those that changed. */
  #updateModemStatus(): void {
    let status = MSR_CONNECTED;
    if (this.#loopback) {
      // Loopback wiring: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
      status = 0;
      if (this.#mcr & MCR_RTS) status |= MSR_CTS;
      if (this.#mcr & MCR_DTR) status |= MSR_DSR;
      if (this.#mcr & MCR_OUT1) status |= MSR_RI;
      if (this.#mcr & MCR_OUT2) status |= MSR_DCD;
    }
    const old = this.#msr;
    const changed = (old ^ status) & 0xf0;
    let deltas = old & MSR_DELTA_BITS;
    if (changed & MSR_CTS) deltas |= MSR_DCTS;
    if (changed & MSR_DSR) deltas |= MSR_DDSR;
    if (changed & MSR_DCD) deltas |= MSR_DDCD;
    // TERI: trailing edge of RI only.
    if (old & MSR_RI && !(status & MSR_RI)) deltas |= MSR_TERI;
    this.#msr = status | deltas;
  }

  /** Appends an entry; on a full FIFO sets OE and returns false. */
  #pushRx(entry: number): boolean {
    if (this.#rxCount >= this.#rxCapacity) {
      this.#lsrErrors |= LSR_OE;
      return false;
    }
    this.#rx[(this.#rxHead + this.#rxCount) % SERIAL_FIFO_SIZE] = entry;
    this.#rxCount++;
    if (this.#rxCount === 1 && entry & ENTRY_BREAK) this.#lsrErrors |= LSR_BI;
    return true;
  }

  #clearRx(): void {
    this.#rxHead = 0;
    this.#rxCount = 0;
  }

  #lsr(): number {
    let lsr = (this.#txBlocked ? 0 : LSR_THRE | LSR_TEMT) | this.#lsrErrors;
    if (this.#rxCount > 0) lsr |= LSR_DR;
    if (this.#fifosEnabled && (this.#lsrErrors & LSR_BI || this.#breakInFifo())) lsr |= LSR_FIFO_ERROR;
    return lsr;
  }

  #breakInFifo(): boolean {
    for (let i = 0; i < this.#rxCount; i++) {
      if (this.#rx[(this.#rxHead + i) % SERIAL_FIFO_SIZE]! & ENTRY_BREAK) return true;
    }
    return false;
  }

  /** IIR per datasheet table IV: the highest-priority enabled pending interrupt. */
  #iir(): number {
    const fifoBits = this.#fifosEnabled ? IIR_FIFOS_ENABLED : 0;
    const ier = this.#ier;
    if (ier & IER_RLS && this.#lsrErrors & LSR_ERROR_BITS) return fifoBits | IIR_RLS;
    if (ier & IER_RDA && this.#rxCount > 0) {
      // Below the trigger level the 16550A reports a character timeout instead;
      // there is no timer here, so the timeout is reported at once.
      const belowTrigger = this.#fifosEnabled && this.#rxCount < this.#rxTrigger;
      return fifoBits | (belowTrigger ? IIR_CHAR_TIMEOUT : IIR_RDA);
    }
    if (ier & IER_THRE && this.#thrEmptyPending) return fifoBits | IIR_THRE;
    if (ier & IER_MS && this.#msr & MSR_DELTA_BITS) return fifoBits | IIR_MS;
    return fifoBits | IIR_NO_INT;
  }

  #updateIrq(): void {
    const level = (this.#iir() & IIR_NO_INT) === 0;
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    this.#setIrqLevel(level);
  }
}
