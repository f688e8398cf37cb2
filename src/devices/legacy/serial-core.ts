/**
 * The 16550A register logic (PC16550D datasheet) over state in a
 * SharedArrayBuffer, so that every thread that touches COM1 answers the
 * guest itself: each vCPU thread and the main thread build their own
 * SerialCore over the same buffer (`createSerialState()`).
 *
 * Sharing rules:
 * - Every register access runs under one SharedMutex ("serial") in the
 *   buffer; fields read only under it are plain typed-array accesses (the
 *   lock's Atomics order them). The interrupt level is computed under the
 *   lock and `setIrqLevel` (KVM_IRQ_LINE from the calling thread) is called
 *   while it is held, so the line's last ioctl always matches the state.
 * - Transmit: a THR write appends to a bounded ring (TX_RING_BYTES), in lock
 *   order, so bytes from several vCPUs keep each vCPU's order. One consumer
 *   (the main thread's Serial16550) pops bytes with Atomics and no lock.
 *   When the ring reaches TX_HIGH, or the consumer says its output is full
 *   (`blockTransmitter()`), THRE/TEMT read 0 and no THRE interrupt is
 *   raised; writes then go on filling the ring (the transmit FIFO) and past
 *   its end are lost and counted, so memory stays bounded. Once the
 *   consumer has emptied the ring, `transmitterDrained()` makes THR empty
 *   again, with its interrupt.
 * - The consumer learns of work from the EVENT_SEQ word: it is bumped and
 *   notified (Atomics.notify, for Atomics.waitAsync on the main thread) when
 *   the ring goes from empty to non-empty and when the guest makes room in
 *   the receive FIFO (the INPUT_SPACE flag). Nothing here ever waits for
 *   the consumer, so a vCPU never blocks on the main thread.
 *
 * The hot paths (read, write) allocate nothing and use no BigInt.
 */
import { SharedMutex } from '../../util/sync.js';
import { StateReader } from '../../util/saved-state.js';

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

/** The 16550A receiver (and transmitter) FIFO depth. */
export const SERIAL_FIFO_SIZE = 16;
/** A receive-FIFO entry flag: this entry is a break condition (received as 0x00). */
const ENTRY_BREAK = 0x100;

/** Bytes the transmit ring holds (a power of two) between the guest and the consumer. */
export const TX_RING_BYTES = 4096;
/** At this many unconsumed bytes the transmitter reads full; the rest of the ring is its FIFO. */
export const TX_HIGH = TX_RING_BYTES - SERIAL_FIFO_SIZE;

/** Int32 word indices of the state (after the mutex's words). */
const W_IER = 2;
const W_LCR = 3;
const W_MCR = 4;
const W_SCR = 5;
const W_DLL = 6;
const W_DLM = 7;
const W_FIFOS = 8;
const W_RX_TRIGGER = 9;
/** Latched LSR error bits (OE, BI); cleared by reading LSR. */
const W_LSR_ERRORS = 10;
/** The THR-empty interrupt condition (datasheet table IV: cleared by IIR read or THR write). */
const W_THR_EMPTY = 11;
/** MSR status bits 7:4 and delta bits 3:0. */
const W_MSR = 12;
const W_IRQ_LEVEL = 13;
const W_RX_HEAD = 14;
const W_RX_COUNT = 15;
/** 1 while the transmitter reads full (THRE/TEMT 0). */
const W_TX_BLOCKED = 16;
/** Bytes lost because the ring was full (Atomics: read by the main thread). */
const W_TX_DROPPED = 17;
/** Free-running ring counters: bytes produced (under the lock) and consumed (by the consumer only). */
const W_TX_TAIL = 18;
const W_TX_HEAD = 19;
/** Bumped and notified when the consumer has work. */
export const W_EVENT_SEQ = 20;
/** Set when the guest emptied or cleared the receive FIFO; the consumer exchanges it to 0. */
const W_INPUT_SPACE = 21;
const STATE_WORDS = 24;
const RX_OFFSET = STATE_WORDS * 4;
const TX_OFFSET = RX_OFFSET + SERIAL_FIFO_SIZE * 4;
const STATE_BYTES = TX_OFFSET + TX_RING_BYTES;

/** A fresh UART state at power-on (divisor 12: 9600 baud from the PC's 1.8432 MHz clock). */
export function createSerialState(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(STATE_BYTES);
  const w = new Int32Array(sab, 0, STATE_WORDS);
  w[W_DLL] = 12;
  w[W_RX_TRIGGER] = 1;
  w[W_MSR] = MSR_CONNECTED;
  return sab;
}

/** What SerialCore.saveState returns: named register words, the receive FIFO (oldest first), untaken transmit bytes. */
export interface SerialSavedState {
  registers: Record<string, number>;
  rx: number[];
  tx: number[];
}

/** The words a snapshot keeps: [name, word index, largest valid value]. */
const SAVED_WORDS: ReadonlyArray<readonly [string, number, number]> = [
  ['ier', W_IER, IER_MASK], ['lcr', W_LCR, 0xff], ['mcr', W_MCR, MCR_MASK], ['scr', W_SCR, 0xff],
  ['dll', W_DLL, 0xff], ['dlm', W_DLM, 0xff], ['fifos', W_FIFOS, 1], ['rxTrigger', W_RX_TRIGGER, 14],
  ['lsrErrors', W_LSR_ERRORS, LSR_ERROR_BITS], ['thrEmpty', W_THR_EMPTY, 1], ['msr', W_MSR, 0xff], ['irqLevel', W_IRQ_LEVEL, 1],
];

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

export class SerialCore {
  readonly shared: SharedArrayBuffer;
  readonly #w: Int32Array;
  /** Receive FIFO: a ring of entries (byte | ENTRY_BREAK). */
  readonly #rx: Int32Array;
  readonly #tx: Uint8Array;
  readonly #lock: SharedMutex;
  readonly #setIrqLevel: (level: boolean) => void;
  /** Set under the lock when the consumer must be woken once it is released. */
  #wakeConsumer = false;

  /** A view over `shared` (from createSerialState); `setIrqLevel` drives IRQ 4 from this thread. */
  constructor(shared: SharedArrayBuffer, setIrqLevel: (level: boolean) => void) {
    this.shared = shared;
    this.#w = new Int32Array(shared, 0, STATE_WORDS);
    this.#rx = new Int32Array(shared, RX_OFFSET, SERIAL_FIFO_SIZE);
    this.#tx = new Uint8Array(shared, TX_OFFSET, TX_RING_BYTES);
    this.#lock = new SharedMutex(shared, 0, 'serial');
    this.#setIrqLevel = setIrqLevel;
  }

  /** The word the consumer waits on (index W_EVENT_SEQ). */
  get events(): Int32Array {
    return this.#w;
  }

  /** A guest read of `data.length` consecutive registers from `offset` (ISA byte splitting, low byte first). */
  read(offset: number, data: Uint8Array): void {
    this.#lock.lock();
    try {
      for (let i = 0; i < data.length; i++) data[i] = this.#readRegister(offset + i) & 0xff;
    } finally {
      this.#unlock();
    }
  }

  /** A guest write of `data` to consecutive registers from `offset`. */
  write(offset: number, data: Uint8Array): void {
    this.#lock.lock();
    try {
      for (let i = 0; i < data.length; i++) this.#writeRegister(offset + i, data[i]!);
    } finally {
      this.#unlock();
    }
  }

  /**
   * Host input into the receive FIFO: returns the bytes accepted (the rest
   * set LSR OE), or -1 in loopback mode (the receiver is off the line).
   */
  enqueueInput(bytes: Uint8Array, breakEntry = false): number {
    this.#lock.lock();
    try {
      if (this.#loopback) return -1;
      let accepted = 0;
      if (breakEntry) accepted = this.#pushRx(ENTRY_BREAK) ? 1 : 0;
      else for (let i = 0; i < bytes.length; i++) if (this.#pushRx(bytes[i]! & 0xff)) accepted++;
      this.#updateIrq();
      return accepted;
    } finally {
      this.#unlock();
    }
  }

  /** How many more host bytes the receive FIFO can take now. */
  inputSpace(): number {
    this.#lock.lock();
    try {
      return this.#loopback ? 0 : this.#rxCapacity - this.#w[W_RX_COUNT]!;
    } finally {
      this.#lock.unlock();
    }
  }

  /** Consumer only: the next transmitted byte, or -1 when the ring is empty. */
  popTx(): number {
    const w = this.#w;
    const head = Atomics.load(w, W_TX_HEAD);
    if (head === Atomics.load(w, W_TX_TAIL)) return -1;
    const byte = Atomics.load(this.#tx, head & (TX_RING_BYTES - 1));
    Atomics.store(w, W_TX_HEAD, (head + 1) | 0);
    return byte;
  }

  /** Consumer only: its output is full; THR reads full until transmitterDrained(). */
  blockTransmitter(): void {
    this.#lock.lock();
    this.#w[W_TX_BLOCKED] = 1;
    this.#lock.unlock();
  }

  /**
   * Consumer only, after popTx() returned -1 and its output can take more:
   * THR is empty again (with its interrupt). Returns false when bytes arrived
   * meanwhile: pop those first.
   */
  transmitterDrained(): boolean {
    this.#lock.lock();
    try {
      const w = this.#w;
      if (w[W_TX_HEAD] !== w[W_TX_TAIL]) return false;
      if (w[W_TX_BLOCKED] === 0) return true;
      w[W_TX_BLOCKED] = 0;
      w[W_THR_EMPTY] = 1;
      this.#updateIrq();
      return true;
    } finally {
      this.#unlock();
    }
  }

  /** Consumer only: whether the guest made room in the receive FIFO since the last call. */
  takeInputSpace(): boolean {
    return Atomics.exchange(this.#w, W_INPUT_SPACE, 0) !== 0;
  }

  /** Bytes written while the transmit ring was full (lost). */
  get transmitOverruns(): number {
    return Atomics.load(this.#w, W_TX_DROPPED);
  }

  /** Register values as the guest would read them, without read side effects. */
  peekRegisters(): SerialRegisterView {
    this.#lock.lock();
    try {
      const w = this.#w;
      return {
        ier: w[W_IER]!, iir: this.#iir(), lcr: w[W_LCR]!, mcr: w[W_MCR]!, lsr: this.#lsr(), msr: w[W_MSR]!,
        rxCount: w[W_RX_COUNT]!, irqLevel: w[W_IRQ_LEVEL] === 1,
      };
    } finally {
      this.#lock.unlock();
    }
  }

  /**
   * The UART's registers and receive FIFO for a snapshot, and the bytes
   * still in the transmit ring (the consumer has not taken them).
   */
  saveState(): SerialSavedState {
    this.#lock.lock();
    try {
      const w = this.#w;
      const registers = Object.fromEntries(SAVED_WORDS.map(([name, index]) => [name, w[index]!]));
      const rx = Array.from({ length: w[W_RX_COUNT]! }, (_, i) => this.#rx[(w[W_RX_HEAD]! + i) % SERIAL_FIFO_SIZE]!);
      const tx: number[] = [];
      for (let at = w[W_TX_HEAD]!; at !== w[W_TX_TAIL]! && tx.length < TX_RING_BYTES; at = (at + 1) | 0) tx.push(this.#tx[at & (TX_RING_BYTES - 1)]!);
      return { registers, rx, tx };
    } finally {
      this.#lock.unlock();
    }
  }

  /**
   * Loads saved registers and receive FIFO into this (fresh) UART, after
   * checking every value's range; returns the saved transmit bytes, which
   * the caller writes out.
   */
  restoreState(saved: unknown): number[] {
    const r = new StateReader(saved, 'serial');
    const regs = r.object('registers');
    const values = SAVED_WORDS.map(([name, index, max]) => [index, regs.int(name, 0, max)] as const);
    const rx = r.array('rx', SERIAL_FIFO_SIZE, (v, where) => new StateReader({ v }, where).int('v', 0, 0x1ff));
    const tx = r.array('tx', TX_RING_BYTES, (v, where) => new StateReader({ v }, where).int('v', 0, 0xff));
    this.#lock.lock();
    try {
      const w = this.#w;
      for (const [index, value] of values) w[index] = value;
      w[W_RX_HEAD] = 0;
      w[W_RX_COUNT] = rx.length;
      rx.forEach((entry, i) => { this.#rx[i] = entry; });
      w[W_TX_HEAD] = 0;
      w[W_TX_TAIL] = 0;
      w[W_TX_BLOCKED] = 0;
    } finally {
      this.#lock.unlock();
    }
    return tx;
  }

  /** Releases the lock, then tells the consumer of new work. */
  #unlock(): void {
    const wake = this.#wakeConsumer;
    this.#wakeConsumer = false;
    this.#lock.unlock();
    if (wake) {
      Atomics.add(this.#w, W_EVENT_SEQ, 1);
      Atomics.notify(this.#w, W_EVENT_SEQ);
    }
  }

  get #loopback(): boolean {
    return (this.#w[W_MCR]! & MCR_LOOP) !== 0;
  }

  get #dlab(): boolean {
    return (this.#w[W_LCR]! & LCR_DLAB) !== 0;
  }

  get #rxCapacity(): number {
    return this.#w[W_FIFOS] === 1 ? SERIAL_FIFO_SIZE : 1;
  }

  #inputSpaceEvent(): void {
    Atomics.store(this.#w, W_INPUT_SPACE, 1);
    this.#wakeConsumer = true;
  }

  #readRegister(reg: number): number {
    const w = this.#w;
    switch (reg) {
      case REG_DATA:
        return this.#dlab ? w[W_DLL]! : this.#readRbr();
      case REG_IER:
        return this.#dlab ? w[W_DLM]! : w[W_IER]!;
      case REG_IIR_FCR:
        return this.#readIir();
      case REG_LCR:
        return w[W_LCR]!;
      case REG_MCR:
        return w[W_MCR]!;
      case REG_LSR: {
        const lsr = this.#lsr();
        if (w[W_LSR_ERRORS] !== 0) {
          w[W_LSR_ERRORS] = 0;
          this.#updateIrq();
        }
        return lsr;
      }
      case REG_MSR: {
        const msr = w[W_MSR]!;
        w[W_MSR] = msr & ~MSR_DELTA_BITS;
        this.#updateIrq();
        return msr;
      }
      case REG_SCR:
        return w[W_SCR]!;
      default:
        return 0xff;
    }
  }

  #writeRegister(reg: number, value: number): void {
    const w = this.#w;
    switch (reg) {
      case REG_DATA:
        if (this.#dlab) w[W_DLL] = value;
        else this.#writeThr(value);
        return;
      case REG_IER:
        if (this.#dlab) w[W_DLM] = value;
        else this.#writeIer(value);
        return;
      case REG_IIR_FCR:
        this.#writeFcr(value);
        return;
      case REG_LCR:
        w[W_LCR] = value;
        return;
      case REG_MCR:
        this.#writeMcr(value);
        return;
      case REG_SCR:
        w[W_SCR] = value;
        return;
      default:
        // LSR and MSR writes (factory test only) and offsets past the UART: ignored.
        return;
    }
  }

  #readRbr(): number {
    const w = this.#w;
    const count = w[W_RX_COUNT]!;
    if (count === 0) return 0;
    const head = w[W_RX_HEAD]!;
    const entry = this.#rx[head]!;
    const next = (head + 1) % SERIAL_FIFO_SIZE;
    w[W_RX_HEAD] = next;
    w[W_RX_COUNT] = count - 1;
    // The next entry's error flags show in LSR once it is at the head.
    if (count > 1 && (this.#rx[next]! & ENTRY_BREAK) !== 0) w[W_LSR_ERRORS] = w[W_LSR_ERRORS]! | LSR_BI;
    this.#updateIrq();
    if (count === 1) this.#inputSpaceEvent();
    return entry & 0xff;
  }

  #readIir(): number {
    const iir = this.#iir();
    // Reading IIR while it reports THR empty clears that interrupt (table IV).
    if ((iir & 0x0f) === IIR_THRE) {
      this.#w[W_THR_EMPTY] = 0;
      this.#updateIrq();
    }
    return iir;
  }

  #writeThr(value: number): void {
    const w = this.#w;
    w[W_THR_EMPTY] = 0;
    this.#updateIrq();
    if (this.#loopback) {
      // Loopback: the transmitter feeds the receiver; a full FIFO overruns.
      this.#pushRx(value);
    } else {
      const tail = w[W_TX_TAIL]!;
      const used = (tail - Atomics.load(w, W_TX_HEAD)) | 0;
      if (used >= TX_RING_BYTES) {
        Atomics.add(w, W_TX_DROPPED, 1);
        return;
      }
      Atomics.store(this.#tx, tail & (TX_RING_BYTES - 1), value);
      Atomics.store(w, W_TX_TAIL, (tail + 1) | 0);
      if (used === 0) this.#wakeConsumer = true;
      if (w[W_TX_BLOCKED] === 1) return;
      if (used + 1 >= TX_HIGH) {
        w[W_TX_BLOCKED] = 1;
        return;
      }
    }
    // The byte left at once: THR is empty again and interrupts anew.
    w[W_THR_EMPTY] = 1;
    this.#updateIrq();
  }

  #writeIer(value: number): void {
    const w = this.#w;
    const previous = w[W_IER]!;
    const ier = value & IER_MASK;
    w[W_IER] = ier;
    // Enabling the THRE interrupt while THR is empty raises it at once (Linux's
    // TXEN and THRE-reassertion tests in serial8250_do_startup rely on this).
    if ((previous ^ ier) & IER_THRE) w[W_THR_EMPTY] = (ier & IER_THRE) !== 0 && w[W_TX_BLOCKED] === 0 ? 1 : 0;
    this.#updateIrq();
  }

  #writeFcr(value: number): void {
    const w = this.#w;
    const enable = (value & FCR_FIFO_ENABLE) !== 0;
    const hadInput = w[W_RX_COUNT]! > 0;
    // Changing the FIFO enable bit resets both FIFOs.
    if (enable !== (w[W_FIFOS] === 1)) this.#clearRx();
    w[W_FIFOS] = enable ? 1 : 0;
    // Bits 7:1 are only programmed while bit 0 is set.
    if (enable) {
      if (value & FCR_CLEAR_RX) this.#clearRx();
      w[W_RX_TRIGGER] = RX_TRIGGER_LEVELS[(value >> 6) & 3]!;
    }
    this.#updateIrq();
    if (hadInput && w[W_RX_COUNT] === 0) this.#inputSpaceEvent();
  }

  #writeMcr(value: number): void {
    const wasLoopback = this.#loopback;
    this.#w[W_MCR] = value & MCR_MASK;
    this.#updateModemStatus();
    this.#updateIrq();
    if (wasLoopback && !this.#loopback) this.#inputSpaceEvent();
  }

  /** Recomputes MSR status bits and latches delta bits for those that changed. */
  #updateModemStatus(): void {
    const w = this.#w;
    const mcr = w[W_MCR]!;
    let status = MSR_CONNECTED;
    if (this.#loopback) {
      // Loopback wiring: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
      status = 0;
      if (mcr & MCR_RTS) status |= MSR_CTS;
      if (mcr & MCR_DTR) status |= MSR_DSR;
      if (mcr & MCR_OUT1) status |= MSR_RI;
      if (mcr & MCR_OUT2) status |= MSR_DCD;
    }
    const old = w[W_MSR]!;
    const changed = (old ^ status) & 0xf0;
    let deltas = old & MSR_DELTA_BITS;
    if (changed & MSR_CTS) deltas |= MSR_DCTS;
    if (changed & MSR_DSR) deltas |= MSR_DDSR;
    if (changed & MSR_DCD) deltas |= MSR_DDCD;
    // TERI: trailing edge of RI only.
    if (old & MSR_RI && !(status & MSR_RI)) deltas |= MSR_TERI;
    w[W_MSR] = status | deltas;
  }

  /** Appends an entry; on a full FIFO sets OE and returns false. */
  #pushRx(entry: number): boolean {
    const w = this.#w;
    const count = w[W_RX_COUNT]!;
    if (count >= this.#rxCapacity) {
      w[W_LSR_ERRORS] = w[W_LSR_ERRORS]! | LSR_OE;
      return false;
    }
    this.#rx[(w[W_RX_HEAD]! + count) % SERIAL_FIFO_SIZE] = entry;
    w[W_RX_COUNT] = count + 1;
    if (count === 0 && entry & ENTRY_BREAK) w[W_LSR_ERRORS] = w[W_LSR_ERRORS]! | LSR_BI;
    return true;
  }

  #clearRx(): void {
    this.#w[W_RX_HEAD] = 0;
    this.#w[W_RX_COUNT] = 0;
  }

  #lsr(): number {
    const w = this.#w;
    const errors = w[W_LSR_ERRORS]!;
    let lsr = (w[W_TX_BLOCKED] === 1 ? 0 : LSR_THRE | LSR_TEMT) | errors;
    if (w[W_RX_COUNT]! > 0) lsr |= LSR_DR;
    if (w[W_FIFOS] === 1 && (errors & LSR_BI || this.#breakInFifo())) lsr |= LSR_FIFO_ERROR;
    return lsr;
  }

  #breakInFifo(): boolean {
    const w = this.#w;
    const head = w[W_RX_HEAD]!;
    const count = w[W_RX_COUNT]!;
    for (let i = 0; i < count; i++) {
      if (this.#rx[(head + i) % SERIAL_FIFO_SIZE]! & ENTRY_BREAK) return true;
    }
    return false;
  }

  /** IIR per datasheet table IV: the highest-priority enabled pending interrupt. */
  #iir(): number {
    const w = this.#w;
    const fifos = w[W_FIFOS] === 1;
    const fifoBits = fifos ? IIR_FIFOS_ENABLED : 0;
    const ier = w[W_IER]!;
    const rxCount = w[W_RX_COUNT]!;
    if (ier & IER_RLS && w[W_LSR_ERRORS]! & LSR_ERROR_BITS) return fifoBits | IIR_RLS;
    if (ier & IER_RDA && rxCount > 0) {
      // Below the trigger level the 16550A reports a character timeout instead;
      // there is no timer here, so the timeout is reported at once.
      const belowTrigger = fifos && rxCount < w[W_RX_TRIGGER]!;
      return fifoBits | (belowTrigger ? IIR_CHAR_TIMEOUT : IIR_RDA);
    }
    if (ier & IER_THRE && w[W_THR_EMPTY] === 1) return fifoBits | IIR_THRE;
    if (ier & IER_MS && w[W_MSR]! & MSR_DELTA_BITS) return fifoBits | IIR_MS;
    return fifoBits | IIR_NO_INT;
  }

  /** Sets the line from the state, under the lock, so threads' ioctls follow the state's order. */
  #updateIrq(): void {
    const level = (this.#iir() & IIR_NO_INT) === 0 ? 1 : 0;
    if (level === this.#w[W_IRQ_LEVEL]) return;
    this.#w[W_IRQ_LEVEL] = level;
    this.#setIrqLevel(level === 1);
  }
}
