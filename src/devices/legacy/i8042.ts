/**
 * Intel 8042 PS/2 keyboard controller (ports 0x60 data, 0x64 status/command),
 * as described in the IBM PC/AT and PS/2 technical references. Its jobs here:
 * let Linux's i8042 and atkbd drivers probe quickly (with or without
 * `i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd`), reset the machine
 * (command 0xFE, or output-port bit 0 cleared via 0xD1), and deliver injected
 * scancodes on IRQ 1.
 *
 * The AUX (mouse) channel has no device: the AUX loopback command (0xD3)
 * answers 0xFE and the AUX interface test (0xA9) reports 0x02 ("clock line
 * stuck high"), so Linux's i8042_check_aux() gives up at once rather than
 * through its 250 ms interrupt-delivery timeout.
 *
 * Scancodes are delivered as given: the controller's set 2 → set 1
 * translation (CTR bit 6) is not modelled, so with translation on (the
 * default) callers pass set 1 codes, which is what Linux then expects.
 */
import type { BusDevice } from '../../bus/bus.js';
import { readBytewise, writeBytewise } from './byte-access.js';
import { Ps2Keyboard } from './ps2-keyboard.js';
import { StateReader, toBase64 } from '../../util/saved-state.js';

/** Status register bits. */
const STATUS_OBF = 0x01;
// STATUS_IBF (0x02) is always 0: commands and data are taken at once.
const STATUS_SYS = 0x04;
const STATUS_LAST_WAS_COMMAND = 0x08;
const STATUS_NOT_INHIBITED = 0x10;
const STATUS_AUX_DATA = 0x20;

/** Controller command byte (CTR, internal RAM byte 0) bits. */
const CTR_KBD_INT = 0x01;
const CTR_SYS = 0x04;
const CTR_KBD_DISABLED = 0x10;
const CTR_AUX_DISABLED = 0x20;
const CTR_TRANSLATE = 0x40;
/** What firmware leaves behind: keyboard interrupt on, POST passed, no AUX, translation on. */
const CTR_DEFAULT = CTR_KBD_INT | CTR_SYS | CTR_AUX_DISABLED | CTR_TRANSLATE;

/** Output port bits: bit 0 is the CPU reset line (active low), bit 1 the A20 gate. */
const OUTPUT_PORT_NOT_RESET = 0x01;
const OUTPUT_PORT_DEFAULT = 0x03;

const CMD_READ_RAM = 0x20; // 0x20-0x3f
const CMD_WRITE_RAM = 0x60; // 0x60-0x7f
const CMD_AUX_DISABLE = 0xa7;
const CMD_AUX_ENABLE = 0xa8;
const CMD_AUX_TEST = 0xa9;
const CMD_SELF_TEST = 0xaa;
const CMD_KBD_TEST = 0xab;
const CMD_KBD_DISABLE = 0xad;
const CMD_KBD_ENABLE = 0xae;
const CMD_READ_OUTPUT_PORT = 0xd0;
const CMD_WRITE_OUTPUT_PORT = 0xd1;
const CMD_WRITE_KBD_OUTPUT = 0xd2;
const CMD_WRITE_AUX_OUTPUT = 0xd3;
const CMD_WRITE_AUX_DEVICE = 0xd4;
const CMD_PULSE_OUTPUT_FIRST = 0xf0;

const SELF_TEST_PASSED = 0x55;
const INTERFACE_TEST_PASSED = 0x00;
const AUX_INTERFACE_CLOCK_HIGH = 0x02;
const AUX_NO_DEVICE = 0xfe;

/** Ctrl, Alt, Delete (E0-prefixed) pressed, then released in reverse order. */
const CTRL_ALT_DEL_SET1 = Uint8Array.of(0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);
const CTRL_ALT_DEL_SET2 = Uint8Array.of(0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14);

export interface I8042Options {
  /** IRQ 1: called whenever the keyboard interrupt output changes (level). */
  setIrqLevel: (level: boolean) => void;
  /** The guest pulsed the CPU reset line. */
  onReset: () => void;
}

export interface I8042Stats {
  scancodesIn: number;
  scancodesDropped: number;
  resets: number;
  unknownCommands: number;
}

interface OutputByte {
  value: number;
  aux: boolean;
}

export class I8042 {
  /** Port 0x60. */
  readonly dataPort: BusDevice;
  /** Port 0x64. */
  readonly commandPort: BusDevice;

  readonly #setIrqLevel: (level: boolean) => void;
  readonly #onReset: () => void;
  readonly #keyboard: Ps2Keyboard;

  /** Internal RAM; byte 0 is the controller command byte (CTR). */
  readonly #ram = new Uint8Array(32);
  #outputPort = OUTPUT_PORT_DEFAULT;
  /** A command that takes a data byte through port 0x60 next. */
  #awaitingDataFor: number | null = null;
  #lastWriteWasCommand = false;

  /** The single-byte output buffer the guest reads at 0x60. */
  #output: OutputByte | null = null;
  /** Controller replies waiting for the output buffer; they go before keyboard bytes. */
  readonly #replies: OutputByte[] = [];
  #irqLevel = false;

  #scancodesIn = 0;
  #resets = 0;
  #unknownCommands = 0;

  constructor(options: I8042Options) {
    this.#setIrqLevel = options.setIrqLevel;
    this.#onReset = options.onReset;
    this.#ram[0] = CTR_DEFAULT;
    this.#keyboard = new Ps2Keyboard(() => (this.#ctr & CTR_TRANSLATE) !== 0);
    this.dataPort = {
      read: (offset, data) => readBytewise(offset, data, (o) => (o === 0 ? this.#readData() : 0xff)),
      write: (offset, data) =>
        writeBytewise(offset, data, (o, v) => {
          if (o === 0) this.#writeData(v);
        }),
    };
    this.commandPort = {
      read: (offset, data) => readBytewise(offset, data, (o) => (o === 0 ? this.#status() : 0xff)),
      write: (offset, data) =>
        writeBytewise(offset, data, (o, v) => {
          if (o === 0) this.#writeCommand(v);
        }),
    };
  }

  /**
   * Queues scancodes from the keyboard (e.g. Ctrl-Alt-Del, Alt-SysRq-key).
   * Returns how many were accepted: the keyboard buffers 16 bytes and sends
   * nothing while the guest has disabled scanning.
   */
  enqueueScancodes(bytes: Uint8Array): number {
    const accepted = this.#keyboard.enqueueScancodes(bytes);
    this.#scancodesIn += accepted;
    this.#fillOutputBuffer();
    this.#updateIrq();
    return accepted;
  }

  /**
   * Presses and releases Ctrl-Alt-Del (Linux: ctrl_alt_del(), a reboot, which
   * `reboot=k` turns into the keyboard-controller reset). Uses scan code set 1
   * while the controller translates, set 2 otherwise. Returns false if the
   * keyboard did not take the whole sequence (scanning disabled, buffer full).
   */
  pressCtrlAltDel(): boolean {
    const translated = (this.#ctr & CTR_TRANSLATE) !== 0;
    const sequence = translated ? CTRL_ALT_DEL_SET1 : CTRL_ALT_DEL_SET2;
    return this.enqueueScancodes(sequence) === sequence.length;
  }

  stats(): I8042Stats {
    return {
      scancodesIn: this.#scancodesIn,
      scancodesDropped: this.#keyboard.dropped,
      resets: this.#resets,
      unknownCommands: this.#unknownCommands,
    };
  }

  /** The controller's and the keyboard's state for a snapshot. */
  saveState(): unknown {
    return {
      ram: toBase64(this.#ram), outputPort: this.#outputPort, awaitingDataFor: this.#awaitingDataFor,
      lastWriteWasCommand: this.#lastWriteWasCommand, output: this.#output, replies: [...this.#replies],
      irqLevel: this.#irqLevel, keyboard: this.#keyboard.saveState(),
    };
  }

  /** Loads a snapshot's state into this fresh controller (the IRQ line's level is the irqchip's, restored with it). */
  restoreState(saved: unknown): void {
    const r = new StateReader(saved, 'i8042');
    const byte = (v: unknown, where: string): OutputByte => {
      const b = new StateReader(v, where);
      return { value: b.int('value', 0, 0xff), aux: b.bool('aux') };
    };
    const ram = r.bytes('ram', this.#ram.length);
    const outputPort = r.int('outputPort', 0, 0xff);
    const awaiting = (saved as { awaitingDataFor?: unknown }).awaitingDataFor === null ? null : r.int('awaitingDataFor', 0, 0xff);
    const lastWriteWasCommand = r.bool('lastWriteWasCommand');
    const output = (saved as { output?: unknown }).output === null ? null : byte((saved as { output: unknown }).output, 'i8042.output');
    const replies = r.array('replies', 16, byte);
    const irqLevel = r.bool('irqLevel');
    this.#keyboard.restoreState((saved as { keyboard?: unknown }).keyboard);
    this.#ram.set(ram);
    this.#outputPort = outputPort;
    this.#awaitingDataFor = awaiting;
    this.#lastWriteWasCommand = lastWriteWasCommand;
    this.#output = output;
    this.#replies.length = 0;
    this.#replies.push(...replies);
    this.#irqLevel = irqLevel;
    // Whoever drives the line only calls KVM on a change: tell it the line is up (the irqchip already has it so).
    if (irqLevel) this.#setIrqLevel(true);
  }

  /** The controller command byte, for tests and debugging. */
  get commandByte(): number {
    return this.#ctr;
  }

  get irqLevel(): boolean {
    return this.#irqLevel;
  }

  get #ctr(): number {
    return this.#ram[0]!;
  }

  #status(): number {
    let status = STATUS_NOT_INHIBITED;
    if (this.#output) status |= STATUS_OBF | (this.#output.aux ? STATUS_AUX_DATA : 0);
    if (this.#ctr & CTR_SYS) status |= STATUS_SYS;
    if (this.#lastWriteWasCommand) status |= STATUS_LAST_WAS_COMMAND;
    return status;
  }

  #readData(): number {
    const output = this.#output;
    if (!output) return 0;
    this.#output = null;
    // The line drops before the next byte moves in, so each byte is a new edge.
    this.#updateIrq();
    this.#fillOutputBuffer();
    this.#updateIrq();
    return output.value;
  }

  #writeData(value: number): void {
    this.#lastWriteWasCommand = false;
    const command = this.#awaitingDataFor;
    if (command === null) {
      // Data with no command pending goes to the keyboard, which re-enables its interface.
      this.#ram[0] = this.#ctr & ~CTR_KBD_DISABLED;
      this.#keyboard.receive(value);
    } else {
      this.#awaitingDataFor = null;
      this.#commandData(command, value);
    }
    this.#fillOutputBuffer();
    this.#updateIrq();
  }

  #commandData(command: number, value: number): void {
    if (command >= CMD_WRITE_RAM && command < CMD_WRITE_RAM + 0x20) {
      this.#ram[command - CMD_WRITE_RAM] = value;
      return;
    }
    switch (command) {
      case CMD_WRITE_OUTPUT_PORT:
        this.#outputPort = value;
        if (!(value & OUTPUT_PORT_NOT_RESET)) this.#requestReset();
        return;
      case CMD_WRITE_KBD_OUTPUT:
        this.#reply(value);
        return;
      case CMD_WRITE_AUX_OUTPUT:
        this.#reply(AUX_NO_DEVICE, true);
        return;
      default: // CMD_WRITE_AUX_DEVICE: there is no AUX device to receive it.
        return;
    }
  }

  #writeCommand(command: number): void {
    this.#lastWriteWasCommand = true;
    // A new command abandons one still waiting for its data byte.
    this.#awaitingDataFor = null;
    if (command >= CMD_READ_RAM && command < CMD_READ_RAM + 0x20) {
      this.#reply(this.#ram[command - CMD_READ_RAM]!);
    } else if (command >= CMD_WRITE_RAM && command < CMD_WRITE_RAM + 0x20) {
      this.#awaitingDataFor = command;
    } else if (command >= CMD_PULSE_OUTPUT_FIRST) {
      // Pulse output lines: a 0 in bit 0 pulses the CPU reset line (0xFE).
      if (!(command & 1)) this.#requestReset();
    } else {
      this.#controllerCommand(command);
    }
    this.#fillOutputBuffer();
    this.#updateIrq();
  }

  #controllerCommand(command: number): void {
    switch (command) {
      case CMD_AUX_DISABLE:
        this.#ram[0] = this.#ctr | CTR_AUX_DISABLED;
        return;
      case CMD_AUX_ENABLE:
        this.#ram[0] = this.#ctr & ~CTR_AUX_DISABLED;
        return;
      case CMD_AUX_TEST:
        this.#reply(AUX_INTERFACE_CLOCK_HIGH);
        return;
      case CMD_SELF_TEST:
        this.#ram[0] = this.#ctr | CTR_SYS;
        this.#reply(SELF_TEST_PASSED);
        return;
      case CMD_KBD_TEST:
        this.#reply(INTERFACE_TEST_PASSED);
        return;
      case CMD_KBD_DISABLE:
        this.#ram[0] = this.#ctr | CTR_KBD_DISABLED;
        return;
      case CMD_KBD_ENABLE:
        this.#ram[0] = this.#ctr & ~CTR_KBD_DISABLED;
        return;
      case CMD_READ_OUTPUT_PORT:
        this.#reply(this.#outputPort);
        return;
      case CMD_WRITE_OUTPUT_PORT:
      case CMD_WRITE_KBD_OUTPUT:
      case CMD_WRITE_AUX_OUTPUT:
      case CMD_WRITE_AUX_DEVICE:
        this.#awaitingDataFor = command;
        return;
      default:
        this.#unknownCommands++;
        return;
    }
  }

  #requestReset(): void {
    this.#resets++;
    this.#onReset();
  }

  #reply(value: number, aux = false): void {
    // Replies are few (one per command); bound them against a guest that never reads.
    if (this.#replies.length >= 16) this.#replies.shift();
    this.#replies.push({ value, aux });
  }

  /** Moves the next byte into an empty output buffer: controller replies first, then the keyboard's. */
  #fillOutputBuffer(): void {
    if (this.#output) return;
    const reply = this.#replies.shift();
    if (reply) {
      this.#output = reply;
    } else if (!(this.#ctr & CTR_KBD_DISABLED) && this.#keyboard.hasOutput()) {
      this.#output = { value: this.#keyboard.takeOutput(), aux: false };
    }
  }

  /** IRQ 1 is asserted while the output buffer holds a non-AUX byte and CTR enables it. */
  #updateIrq(): void {
    const level = this.#output !== null && !this.#output.aux && (this.#ctr & CTR_KBD_INT) !== 0;
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    this.#setIrqLevel(level);
  }
}
