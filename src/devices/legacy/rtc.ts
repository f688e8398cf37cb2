/**
 * Motorola MC146818 real-time clock and CMOS RAM (MC146818A datasheet; PC
 * CMOS layout per the IBM PC/AT technical reference and what SeaBIOS/QEMU
 * use). Port 0x70 selects a register (bit 7 is the NMI mask, ignored), port
 * 0x71 reads or writes it.
 *
 * The time is read from an injected clock (default: host time, UTC) plus an
 * offset that guest writes to the time registers adjust. Registers follow
 * status register B: bit 2 binary (else BCD), bit 1 24-hour (else 12-hour with
 * bit 7 = PM); bit 7 (SET) freezes the visible time while the guest writes a
 * new one, committed when SET is cleared. No update cycle is ever in progress
 * (status A UIP reads 0) and no RTC interrupts (IRQ 8) are generated: status C
 * reads 0.
 */
import type { BusDevice } from '../../bus/bus.js';
import { readBytewise, writeBytewise } from './byte-access.js';

const REG_SECONDS = 0x00;
const REG_MINUTES = 0x02;
const REG_HOURS = 0x04;
const REG_DAY_OF_WEEK = 0x06;
const REG_DAY_OF_MONTH = 0x07;
const REG_MONTH = 0x08;
const REG_YEAR = 0x09;
const REG_STATUS_A = 0x0a;
const REG_STATUS_B = 0x0b;
const REG_STATUS_C = 0x0c;
const REG_STATUS_D = 0x0d;
/** IBM convention: the century, in the same format (BCD or binary) as the other time registers. */
const REG_CENTURY = 0x32;

/** Status A: divider 010 (32.768 kHz time base), rate 0110 (1024 Hz). Bit 7 (UIP) is read-only. */
const STATUS_A_DEFAULT = 0x26;
const STATUS_A_UIP = 0x80;
const STATUS_B_SET = 0x80;
const STATUS_B_BINARY = 0x04;
const STATUS_B_24H = 0x02;
/** Status D bit 7, VRT: the battery is fine. */
const STATUS_D_VRT = 0x80;
const HOURS_PM = 0x80;

/** CMOS memory-size bytes (little-endian pairs/triples). */
const CMOS_BASE_MEM_KIB = 0x15; // 0x15-0x16
const CMOS_EXT_MEM_KIB = 0x17; // 0x17-0x18: KiB above 1 MiB, at most 0xffff
const CMOS_EXT_MEM_KIB_POST = 0x30; // 0x30-0x31: same
const CMOS_MEM_ABOVE_16M = 0x34; // 0x34-0x35: 64 KiB units between 16 MiB and the low-RAM limit
const CMOS_MEM_ABOVE_4G = 0x5b; // 0x5b-0x5d: 64 KiB units above 4 GiB

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
/** Where RAM stops below 4 GiB by default (the rest is mapped above 4 GiB). */
export const DEFAULT_LOW_RAM_LIMIT = 3 * GIB;

export interface RtcOptions {
  /** Guest RAM size in bytes, for the CMOS memory-size bytes. */
  memBytes: number;
  /** RAM below 4 GiB ends here (start of the MMIO hole); default 3 GiB. */
  lowRamLimit?: number;
  /** Milliseconds since the Unix epoch; default Date.now. */
  now?: () => number;
}

/** A broken-down UTC time, with the full year. */
interface TimeFields {
  seconds: number;
  minutes: number;
  hours: number;
  day: number;
  month: number;
  year: number;
}

/**
 * Milliseconds since the epoch for `t` (UTC). An impossible date such as 31
 * February rolls over into the next month. Unlike Date.UTC, years 0-99 are
 * taken literally.
 */
function utcMs(t: TimeFields): number {
  const date = new Date(0);
  date.setUTCFullYear(t.year, t.month - 1, t.day);
  date.setUTCHours(t.hours, t.minutes, t.seconds, 0);
  return date.getTime();
}

export class CmosRtc implements BusDevice {
  readonly #now: () => number;
  readonly #ram = new Uint8Array(128);
  #index = 0;
  /** Guest-set time minus host time, in milliseconds. */
  #offsetMs = 0;
  /** The time shown while status B SET is on. */
  #frozen: TimeFields | null = null;

  constructor(options: RtcOptions) {
    this.#now = options.now ?? Date.now;
    this.#ram[REG_STATUS_A] = STATUS_A_DEFAULT;
    this.#ram[REG_STATUS_B] = STATUS_B_24H;
    this.#ram[REG_STATUS_D] = STATUS_D_VRT;
    this.#fillMemorySize(options.memBytes, options.lowRamLimit ?? DEFAULT_LOW_RAM_LIMIT);
  }

  read(offset: number, data: Uint8Array): void {
    readBytewise(offset, data, (port) => (port === 1 ? this.#readRegister(this.#index) : 0xff));
  }

  write(offset: number, data: Uint8Array): void {
    writeBytewise(offset, data, (port, value) => {
      if (port === 0) this.#index = value & 0x7f;
      else if (port === 1) this.#writeRegister(this.#index, value);
    });
  }

  /** The time the guest sees, in milliseconds since the epoch. */
  guestTimeMs(): number {
    return this.#now() + this.#offsetMs;
  }

  #readRegister(index: number): number {
    switch (index) {
      case REG_SECONDS:
      case REG_MINUTES:
      case REG_HOURS:
      case REG_DAY_OF_WEEK:
      case REG_DAY_OF_MONTH:
      case REG_MONTH:
      case REG_YEAR:
      case REG_CENTURY:
        return this.#readTimeRegister(index);
      case REG_STATUS_A:
        return this.#ram[REG_STATUS_A]! & ~STATUS_A_UIP;
      case REG_STATUS_C:
        return 0;
      default:
        return this.#ram[index]!;
    }
  }

  #writeRegister(index: number, value: number): void {
    switch (index) {
      case REG_SECONDS:
      case REG_MINUTES:
      case REG_HOURS:
      case REG_DAY_OF_MONTH:
      case REG_MONTH:
      case REG_YEAR:
      case REG_CENTURY:
        this.#writeTimeRegister(index, value);
        return;
      case REG_DAY_OF_WEEK:
      case REG_STATUS_C:
      case REG_STATUS_D:
        return; // Derived from the date, or read-only.
      case REG_STATUS_A:
        this.#ram[REG_STATUS_A] = value & ~STATUS_A_UIP;
        return;
      case REG_STATUS_B:
        this.#writeStatusB(value);
        return;
      default:
        this.#ram[index] = value;
        return;
    }
  }

  #writeStatusB(value: number): void {
    const wasSet = (this.#ram[REG_STATUS_B]! & STATUS_B_SET) !== 0;
    const isSet = (value & STATUS_B_SET) !== 0;
    if (!wasSet && isSet) this.#frozen = this.#currentFields();
    if (wasSet && !isSet && this.#frozen) {
      this.#commit(this.#frozen);
      this.#frozen = null;
    }
    this.#ram[REG_STATUS_B] = value;
  }

  get #binary(): boolean {
    return (this.#ram[REG_STATUS_B]! & STATUS_B_BINARY) !== 0;
  }

  get #twentyFourHour(): boolean {
    return (this.#ram[REG_STATUS_B]! & STATUS_B_24H) !== 0;
  }

  #currentFields(): TimeFields {
    if (this.#frozen) return this.#frozen;
    const date = new Date(this.guestTimeMs());
    if (Number.isNaN(date.getTime())) return { seconds: 0, minutes: 0, hours: 0, day: 1, month: 1, year: 2000 };
    return {
      seconds: date.getUTCSeconds(),
      minutes: date.getUTCMinutes(),
      hours: date.getUTCHours(),
      day: date.getUTCDate(),
      month: date.getUTCMonth() + 1,
      year: date.getUTCFullYear(),
    };
  }

  #readTimeRegister(index: number): number {
    const t = this.#currentFields();
    switch (index) {
      case REG_SECONDS:
        return this.#encode(t.seconds);
      case REG_MINUTES:
        return this.#encode(t.minutes);
      case REG_HOURS:
        return this.#encodeHours(t.hours);
      case REG_DAY_OF_WEEK: // 1 = Sunday
        return this.#encode(new Date(utcMs({ ...t, hours: 0, minutes: 0, seconds: 0 })).getUTCDay() + 1);
      case REG_DAY_OF_MONTH:
        return this.#encode(t.day);
      case REG_MONTH:
        return this.#encode(t.month);
      case REG_YEAR:
        return this.#encode(t.year % 100);
      default: // REG_CENTURY
        return this.#encode(Math.floor(t.year / 100) % 100);
    }
  }

  /** Applies a guest write to one time field; out-of-range values are ignored. */
  #writeTimeRegister(index: number, value: number): void {
    const t = { ...this.#currentFields() };
    if (index === REG_HOURS) {
      const hours = this.#decodeHours(value);
      if (hours === null) return;
      t.hours = hours;
    } else {
      const v = this.#decode(value);
      if (v === null) return;
      switch (index) {
        case REG_SECONDS:
          if (v > 59) return;
          t.seconds = v;
          break;
        case REG_MINUTES:
          if (v > 59) return;
          t.minutes = v;
          break;
        case REG_DAY_OF_MONTH:
          if (v < 1 || v > 31) return;
          t.day = v;
          break;
        case REG_MONTH:
          if (v < 1 || v > 12) return;
          t.month = v;
          break;
        case REG_YEAR:
          t.year = t.year - (t.year % 100) + v;
          break;
        default: // REG_CENTURY
          t.year = v * 100 + (t.year % 100);
          break;
      }
    }
    if (this.#frozen) this.#frozen = t;
    else this.#commit(t);
  }

  #commit(t: TimeFields): void {
    const guestMs = utcMs(t);
    const hostMs = this.#now();
    if (!Number.isFinite(guestMs) || !Number.isFinite(hostMs)) return;
    // Keep the host's sub-second phase so the seconds tick where the guest expects.
    this.#offsetMs = guestMs - (hostMs - (hostMs % 1000));
  }

  /** Encodes 0-99 per the data mode (BCD unless status B bit 2). */
  #encode(value: number): number {
    return this.#binary ? value : (Math.floor(value / 10) << 4) | value % 10;
  }

  /** Decodes a register value; null for an invalid BCD digit or a value above 99. */
  #decode(raw: number): number | null {
    if (this.#binary) return raw <= 99 ? raw : null;
    const high = raw >> 4;
    const low = raw & 0x0f;
    return high > 9 || low > 9 ? null : high * 10 + low;
  }

  #encodeHours(hours: number): number {
    if (this.#twentyFourHour) return this.#encode(hours);
    const twelve = hours % 12 === 0 ? 12 : hours % 12;
    return this.#encode(twelve) | (hours >= 12 ? HOURS_PM : 0);
  }

  #decodeHours(raw: number): number | null {
    if (this.#twentyFourHour) {
      const hours = this.#decode(raw);
      return hours !== null && hours <= 23 ? hours : null;
    }
    const twelve = this.#decode(raw & ~HOURS_PM);
    if (twelve === null || twelve < 1 || twelve > 12) return null;
    return (twelve % 12) + (raw & HOURS_PM ? 12 : 0);
  }

  #fillMemorySize(memBytes: number, lowRamLimit: number): void {
    const total = Number.isFinite(memBytes) && memBytes > 0 ? memBytes : 0;
    const lowLimit = Math.min(Math.max(lowRamLimit, 16 * MIB), 4 * GIB);
    const low = Math.min(total, lowLimit);
    const high = total - low;
    const baseKib = Math.min(640, Math.floor(low / KIB));
    const extendedKib = Math.min(0xffff, Math.max(0, Math.floor((low - MIB) / KIB)));
    const above16m = Math.min(0xffff, Math.max(0, Math.floor((low - 16 * MIB) / (64 * KIB))));
    const above4g = Math.min(0xffffff, Math.floor(high / (64 * KIB)));
    this.#put(CMOS_BASE_MEM_KIB, baseKib, 2);
    this.#put(CMOS_EXT_MEM_KIB, extendedKib, 2);
    this.#put(CMOS_EXT_MEM_KIB_POST, extendedKib, 2);
    this.#put(CMOS_MEM_ABOVE_16M, above16m, 2);
    this.#put(CMOS_MEM_ABOVE_4G, above4g, 3);
  }

  /** Stores `value` little-endian in `bytes` CMOS bytes from `index`. */
  #put(index: number, value: number, bytes: number): void {
    for (let i = 0; i < bytes; i++) this.#ram[index + i] = Math.floor(value / 256 ** i) & 0xff;
  }
}
