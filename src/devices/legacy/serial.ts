/**
 * 16550A UART (National Semiconductor PC16550D datasheet), as used for COM1.
 *
 * The registers live in shared memory (serial-core.ts): the vCPU threads
 * answer COM1 themselves over `shared`, and this object is the main
 * thread's side of the same UART. It drains what the guest transmitted to
 * `onOutput`, in order: at once after its own accesses, and, once
 * `watchSharedAccess()` is called, whenever another thread's access leaves
 * work (Atomics.waitAsync, no polling).
 *
 * Transmission is instantaneous while the output can take bytes: a THR write
 * hands the byte on and the transmitter is empty again (LSR THRE/TEMT read
 * 1). Flow control: while `outputBlocked()` says the host side holds enough,
 * THRE/TEMT read 0 and no THRE interrupt is raised, so a driver waits; what
 * it writes anyway goes into the bounded transmit ring, and past that is
 * lost (an overrun, as on real hardware), so memory stays bounded.
 * `transmitterReady()` (the output drained) sends what the ring holds and
 * makes THR empty again, with its interrupt. The receiver
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
import { waitForAsync } from '../../util/sync.js';
import { rateLimited } from '../../util/log.js';
import { SerialCore, createSerialState, W_EVENT_SEQ, type SerialRegisterView, type SerialSavedState } from './serial-core.js';

export { SERIAL_FIFO_SIZE, SerialCore, createSerialState, type SerialRegisterView } from './serial-core.js';

export interface Serial16550Options {
  /** Called with each byte the guest transmits, in order. */
  onOutput: (byte: number) => void;
  /** Called whenever the interrupt output changes (level semantics), from the thread whose access changed it. */
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
  /** The UART state (createSerialState()) to share with vCPU threads; a fresh one by default. */
  shared?: SharedArrayBuffer;
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

const NO_BYTES = new Uint8Array(0);
const watchErrors = rateLimited('serial');

export class Serial16550 implements BusDevice {
  readonly #core: SerialCore;
  readonly #onOutput: (byte: number) => void;
  #onInputSpace: (() => void) | undefined;
  readonly #outputBlocked: (() => boolean) | undefined;
  readonly #onOutputBlocked: (() => void) | undefined;
  /** The output is full: nothing is drained until transmitterReady(). */
  #waitingForOutput = false;
  #watching = false;
  #pumping = false;

  #bytesIn = 0;
  #bytesOut = 0;
  #overruns = 0;
  #breaks = 0;

  constructor(options: Serial16550Options) {
    this.#core = new SerialCore(options.shared ?? createSerialState(), options.setIrqLevel);
    this.#onOutput = options.onOutput;
    this.#onInputSpace = options.onInputSpace;
    this.#outputBlocked = options.outputBlocked;
    this.#onOutputBlocked = options.onOutputBlocked;
  }

  /** The shared state: a vCPU thread builds `new SerialCore(shared, ...)` over it. */
  get shared(): SharedArrayBuffer {
    return this.#core.shared;
  }

  /**
   * Serves accesses made by other threads: waits (Atomics.waitAsync, so the
   * event loop runs on) for the event word and drains output and input-space
   * events when it moves. stopWatching() ends it.
   */
  watchSharedAccess(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#watch();
  }

  /**
   * Takes what other threads' accesses left (transmitted bytes, input-space
   * events) now, without waiting for the watcher's turn: before the VMM acts
   * on an event that a vCPU raised after writing to COM1 (a power-off after
   * the guest's last line), so that nothing it wrote is missed.
   */
  serviceSharedAccess(): void {
    this.#pump();
  }

  /** Stops watching, after a last serviceSharedAccess(). */
  stopWatching(): void {
    if (!this.#watching) return;
    this.#pump();
    this.#watching = false;
    // Release the pending wait so that it does not outlive the UART.
    Atomics.add(this.#core.events, W_EVENT_SEQ, 1);
    Atomics.notify(this.#core.events, W_EVENT_SEQ);
  }

  readonly #watch = (): void => {
    if (!this.#watching) return;
    const seq = Atomics.load(this.#core.events, W_EVENT_SEQ);
    try {
      this.#pump();
    } catch (err) {
      // A failing output or IRQ ioctl must not end the watch (nor the VMM); the guest may cause it on every access.
      watchErrors.error(`serial: ${(err as Error).message}`);
    }
    const wait = waitForAsync(this.#core.events, W_EVENT_SEQ, seq);
    if (wait.async) void wait.value.then(this.#watch);
    else setImmediate(this.#watch);
  };

  /** The output drained: send what the transmit ring holds, and THR is empty again (with its interrupt). */
  transmitterReady(): void {
    if (!this.#waitingForOutput) return;
    this.#waitingForOutput = false;
    this.#pump();
  }

  /** Bytes written while the transmit ring was full (lost). */
  get transmitOverruns(): number {
    return this.#core.transmitOverruns;
  }

  read(offset: number, data: Uint8Array): void {
    this.#core.read(offset, data);
    this.#pump();
  }

  write(offset: number, data: Uint8Array): void {
    this.#core.write(offset, data);
    this.#pump();
  }

  /**
   * Queues host input for the guest. Returns how many bytes were accepted;
   * the rest are dropped, counted as overruns and flagged in LSR OE. In
   * loopback mode the receiver is disconnected from the line and accepts none
   * (and counts no overrun). Use inputSpace() to avoid drops.
   */
  enqueueInput(bytes: Uint8Array): number {
    const accepted = this.#core.enqueueInput(bytes);
    if (accepted < 0) return 0;
    this.#overruns += bytes.length - accepted;
    this.#bytesIn += accepted;
    return accepted;
  }

  /** Sets (replaces) the onInputSpace callback; SerialConsole.attach() uses it. */
  setInputSpaceListener(listener: () => void): void {
    this.#onInputSpace = listener;
  }

  /** How many more host bytes the receive FIFO can take now. */
  inputSpace(): number {
    return this.#core.inputSpace();
  }

  /**
   * Delivers a break condition: a 0x00 entry that shows LSR BI (and raises a
   * receiver line status interrupt) when it reaches the head of the FIFO.
   * Linux treats the next character after a break as a magic SysRq key.
   * Returns false (an overrun) when the FIFO is full or in loopback mode.
   */
  sendBreak(): boolean {
    const accepted = this.#core.enqueueInput(NO_BYTES, true);
    if (accepted < 0) return false;
    if (accepted === 1) this.#breaks++;
    else this.#overruns++;
    return accepted === 1;
  }

  stats(): SerialStats {
    return { bytesIn: this.#bytesIn, bytesOut: this.#bytesOut, overruns: this.#overruns, breaks: this.#breaks };
  }

  /** Register values as the guest would read them, without read side effects. */
  peekRegisters(): SerialRegisterView {
    return this.#core.peekRegisters();
  }

  /** Registers, receive FIFO and untaken output for a snapshot (after serviceSharedAccess, usually no output). */
  saveState(): SerialSavedState {
    return this.#core.saveState();
  }

  /** Loads a snapshot's state into this fresh UART; output it had not sent yet goes out now. */
  restoreState(saved: unknown): void {
    for (const byte of this.#core.restoreState(saved)) this.#onOutput(byte);
  }

  /** Hands on transmitted bytes while the output takes them, and input-space events. Not re-entered. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      if (this.#core.takeInputSpace()) this.#onInputSpace?.();
      this.#drainOutput();
    } finally {
      this.#pumping = false;
    }
  }

  #drainOutput(): void {
    const core = this.#core;
    while (!this.#waitingForOutput) {
      for (let byte = core.popTx(); byte >= 0; byte = core.popTx()) {
        this.#bytesOut++;
        this.#onOutput(byte);
        if (this.#outputBlocked?.() === true) {
          this.#waitingForOutput = true;
          core.blockTransmitter();
          // It may call transmitterReady() at once (the output had room after all); the loop then goes on.
          this.#onOutputBlocked?.();
          break;
        }
      }
      if (this.#waitingForOutput) return;
      if (core.transmitterDrained()) return;
    }
  }
}
