/**
 * The device side of a PS/2 keyboard: the commands a host sends through the
 * i8042's data port (IBM PS/2 Hardware Interface Technical Reference,
 * "Keyboard commands") and the bytes the keyboard sends back. Enough for
 * Linux's atkbd probe (GETID, SETLEDS, SETREP, ENABLE/RESET_DIS, RESET_BAT)
 * so it needs no timeouts; there are no typematic timers.
 */

export const PS2_ACK = 0xfa;
export const PS2_RESEND = 0xfe;
export const PS2_BAT_OK = 0xaa;
export const PS2_ECHO = 0xee;

const CMD_SET_LEDS = 0xed;
const CMD_ECHO = 0xee;
const CMD_SCANCODE_SET = 0xf0;
const CMD_GET_ID = 0xf2;
const CMD_SET_TYPEMATIC = 0xf3;
const CMD_ENABLE = 0xf4;
const CMD_DISABLE = 0xf5;
const CMD_SET_DEFAULTS = 0xf6;
const CMD_RESEND = 0xfe;
const CMD_RESET = 0xff;

/** A keyboard's own output buffer is 16 bytes. */
export const PS2_KEYBOARD_BUFFER = 16;

import { StateReader } from '../../util/saved-state.js';

export class Ps2Keyboard {
  /** Whether the controller translates (CTR bit 6): the ID's second byte reads 0x41 instead of 0x83. */
  readonly #translated: () => boolean;
  readonly #output: number[] = [];
  /** A command waiting for its parameter byte. */
  #awaitingParameterFor: number | null = null;
  #scanning = true;
  #scancodeSet = 2;
  #leds = 0;
  #lastSent = PS2_ACK;
  #dropped = 0;

  constructor(translated: () => boolean) {
    this.#translated = translated;
  }

  /** The keyboard's state for a snapshot. */
  saveState(): { output: number[]; awaitingParameterFor: number | null; scanning: boolean; scancodeSet: number; leds: number; lastSent: number } {
    return {
      output: [...this.#output], awaitingParameterFor: this.#awaitingParameterFor, scanning: this.#scanning,
      scancodeSet: this.#scancodeSet, leds: this.#leds, lastSent: this.#lastSent,
    };
  }

  /** Loads a snapshot's state; every value is range-checked. */
  restoreState(saved: unknown): void {
    const r = new StateReader(saved, 'i8042.keyboard');
    const output = r.array('output', PS2_KEYBOARD_BUFFER, (v, where) => new StateReader({ v }, where).int('v', 0, 0xff));
    const awaiting = (saved as { awaitingParameterFor?: unknown }).awaitingParameterFor === null ? null : r.int('awaitingParameterFor', 0, 0xff);
    const scanning = r.bool('scanning');
    const scancodeSet = r.int('scancodeSet', 1, 3);
    const leds = r.int('leds', 0, 7);
    const lastSent = r.int('lastSent', 0, 0xff);
    this.#output.length = 0;
    this.#output.push(...output);
    this.#awaitingParameterFor = awaiting;
    this.#scanning = scanning;
    this.#scancodeSet = scancodeSet;
    this.#leds = leds;
    this.#lastSent = lastSent;
  }

  /** A byte the host sent to the keyboard. */
  receive(byte: number): void {
    const pending = this.#awaitingParameterFor;
    if (pending !== null) {
      this.#awaitingParameterFor = null;
      this.#receiveParameter(pending, byte);
      return;
    }
    // A keyboard discards its pending output when it receives a command.
    this.#output.length = 0;
    switch (byte) {
      case CMD_SET_LEDS:
      case CMD_SCANCODE_SET:
      case CMD_SET_TYPEMATIC:
        this.#awaitingParameterFor = byte;
        this.#send(PS2_ACK);
        return;
      case CMD_ECHO:
        this.#send(PS2_ECHO);
        return;
      case CMD_GET_ID:
        this.#send(PS2_ACK, 0xab, this.#translated() ? 0x41 : 0x83);
        return;
      case CMD_ENABLE:
        this.#scanning = true;
        this.#send(PS2_ACK);
        return;
      case CMD_DISABLE:
        this.#scanning = false;
        this.#setDefaults();
        this.#send(PS2_ACK);
        return;
      case CMD_SET_DEFAULTS:
        this.#setDefaults();
        this.#send(PS2_ACK);
        return;
      case CMD_RESEND:
        this.#send(this.#lastSent);
        return;
      case CMD_RESET:
        this.#setDefaults();
        this.#scanning = true;
        this.#send(PS2_ACK, PS2_BAT_OK);
        return;
      default:
        // 0xF7-0xFD (scan set 3 key types) are acknowledged; anything else is not a command.
        this.#send(byte >= 0xf7 && byte <= 0xfd ? PS2_ACK : PS2_RESEND);
        return;
    }
  }

  /**
   * Queues key scancodes as the guest will read them. Returns how many were
   * accepted: none while scanning is disabled, and no more than the buffer holds.
   */
  enqueueScancodes(bytes: Uint8Array): number {
    if (!this.#scanning) {
      this.#dropped += bytes.length;
      return 0;
    }
    let accepted = 0;
    for (const byte of bytes) {
      if (this.#output.length >= PS2_KEYBOARD_BUFFER) break;
      this.#output.push(byte & 0xff);
      accepted++;
    }
    this.#dropped += bytes.length - accepted;
    return accepted;
  }

  hasOutput(): boolean {
    return this.#output.length > 0;
  }

  /** Takes the next byte the keyboard sends; call only when hasOutput(). */
  takeOutput(): number {
    return this.#output.shift() ?? 0;
  }

  get scanning(): boolean {
    return this.#scanning;
  }

  get leds(): number {
    return this.#leds;
  }

  get scancodeSet(): number {
    return this.#scancodeSet;
  }

  /** Scancodes dropped because the keyboard was disabled or its buffer full. */
  get dropped(): number {
    return this.#dropped;
  }

  #receiveParameter(command: number, value: number): void {
    switch (command) {
      case CMD_SET_LEDS:
        this.#leds = value & 0x07;
        this.#send(PS2_ACK);
        return;
      case CMD_SCANCODE_SET:
        if (value === 0) {
          this.#send(PS2_ACK, this.#scancodeSet);
        } else if (value <= 3) {
          this.#scancodeSet = value;
          this.#send(PS2_ACK);
        } else {
          this.#send(PS2_RESEND);
        }
        return;
      default: // CMD_SET_TYPEMATIC: rate and delay are not modelled.
        this.#send(PS2_ACK);
        return;
    }
  }

  #setDefaults(): void {
    this.#leds = 0;
    this.#scancodeSet = 2;
  }

  #send(...bytes: number[]): void {
    for (const byte of bytes) {
      if (this.#output.length >= PS2_KEYBOARD_BUFFER) this.#output.shift();
      this.#output.push(byte);
    }
    this.#lastSent = bytes[bytes.length - 1]!;
  }
}
