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
 *
 * The state (index, CMOS RAM, the guest's offset, the frozen time) lives in
 * a SharedArrayBuffer (`shared`), under one SharedMutex: the vCPU threads
 * build their own CmosRtc over it (`{ shared }`) and answer ports 0x70-0x71
 * without the mailbox. Accesses allocate nothing: dates are converted with
 * day arithmetic (H. Hinnant, "chrono-Compatible Low-Level Date
 * Algorithms"), not Date objects.
 */
import type { BusDevice } from '../../bus/bus.js';
import { SharedMutex } from '../../util/sync.js';
import { SavedStateError, StateReader, toBase64 } from '../../util/saved-state.js';

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
  /** Guest RAM size in bytes, for the CMOS memory-size bytes (a new state only). */
  memBytes: number;
  /** RAM below 4 GiB ends here (start of the MMIO hole); default 3 GiB. */
  lowRamLimit?: number;
  /** Milliseconds since the Unix epoch; default Date.now. */
  now?: () => number;
  /** Another CmosRtc's `shared` state, to serve the same clock from this thread. */
  shared?: SharedArrayBuffer;
}

/** Int32 words of the state (after the mutex's two). */
const W_INDEX = 2;
/** 1 while status B SET freezes the visible time in the F_* words. */
const W_FROZEN = 3;
const W_FIELDS = 4;
/** Field offsets in a time record: seconds, minutes, hours, day, month, full year. */
const F_SECONDS = 0;
const F_MINUTES = 1;
const F_HOURS = 2;
const F_DAY = 3;
const F_MONTH = 4;
const F_YEAR = 5;
const FIELDS = 6;
const WORDS = W_FIELDS + FIELDS;
/** The guest-set time minus host time (ms), a Float64 after the words. */
const OFFSET_BYTE = 48;
const RAM_BYTE = OFFSET_BYTE + 8;
const STATE_BYTES = RAM_BYTE + 128;
const DAY_MS = 86_400_000;
/** The range of a Date; beyond it the clock reads 1 January 2000. */
const MAX_TIME_MS = 8.64e15;

/** Days since 1970-01-01 of a proleptic Gregorian date; day and hour overflow roll on (31 February is 2 or 3 March). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Fills `out[at..at+6)` with the UTC fields of `ms` (finite, within a Date's range). */
function civilFromMs(ms: number, out: Int32Array, at: number): void {
  const days = Math.floor(ms / DAY_MS);
  const msOfDay = ms - days * DAY_MS;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  out[at + F_YEAR] = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out[at + F_MONTH] = month;
  out[at + F_DAY] = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const seconds = Math.floor(msOfDay / 1000);
  out[at + F_HOURS] = Math.floor(seconds / 3600);
  out[at + F_MINUTES] = Math.floor(seconds / 60) % 60;
  out[at + F_SECONDS] = seconds % 60;
}

/** Milliseconds since the epoch of the fields at `at` (UTC); years 0-99 are taken literally. */
function msFromCivil(f: Int32Array, at: number): number {
  const days = daysFromCivil(f[at + F_YEAR]!, f[at + F_MONTH]!, f[at + F_DAY]!);
  return days * DAY_MS + ((f[at + F_HOURS]! * 60 + f[at + F_MINUTES]!) * 60 + f[at + F_SECONDS]!) * 1000;
}

export class CmosRtc implements BusDevice {
  /** The state: share it with `new CmosRtc({ ..., shared })` on another thread. */
  readonly shared: SharedArrayBuffer;
  readonly #now: () => number;
  readonly #lock: SharedMutex;
  readonly #w: Int32Array;
  readonly #offset: Float64Array;
  readonly #ram: Uint8Array;
  /** This thread's scratch time record (index 0) and the edited one (index FIELDS). */
  readonly #t = new Int32Array(2 * FIELDS);

  constructor(options: RtcOptions) {
    this.#now = options.now ?? Date.now;
    const fresh = options.shared === undefined;
    this.shared = options.shared ?? new SharedArrayBuffer(STATE_BYTES);
    this.#lock = new SharedMutex(this.shared, 0, 'cmos rtc');
    this.#w = new Int32Array(this.shared, 0, WORDS);
    this.#offset = new Float64Array(this.shared, OFFSET_BYTE, 1);
    this.#ram = new Uint8Array(this.shared, RAM_BYTE, 128);
    if (fresh) {
      this.#ram[REG_STATUS_A] = STATUS_A_DEFAULT;
      this.#ram[REG_STATUS_B] = STATUS_B_24H;
      this.#ram[REG_STATUS_D] = STATUS_D_VRT;
      this.#fillMemorySize(options.memBytes, options.lowRamLimit ?? DEFAULT_LOW_RAM_LIMIT);
    }
  }

  read(offset: number, data: Uint8Array): void {
    this.#lock.lock();
    try {
      for (let i = 0; i < data.length; i++) data[i] = offset + i === 1 ? this.#readRegister(this.#w[W_INDEX]!) & 0xff : 0xff;
    } finally {
      this.#lock.unlock();
    }
  }

  write(offset: number, data: Uint8Array): void {
    this.#lock.lock();
    try {
      for (let i = 0; i < data.length; i++) {
        const port = offset + i;
        if (port === 0) this.#w[W_INDEX] = data[i]! & 0x7f;
        else if (port === 1) this.#writeRegister(this.#w[W_INDEX]!, data[i]!);
      }
    } finally {
      this.#lock.unlock();
    }
  }

  /**
   * The CMOS bytes, index register, the frozen time (status B SET) and the
   * guest's offset from host time, for a snapshot. The clock itself is the
   * host's: a restored guest reads the right wall-clock time from the RTC.
   */
  saveState(): { index: number; frozen: boolean; fields: number[]; offsetMs: number; ram: string } {
    this.#lock.lock();
    try {
      const w = this.#w;
      return {
        index: w[W_INDEX]!, frozen: w[W_FROZEN] === 1, fields: Array.from(w.subarray(W_FIELDS, W_FIELDS + FIELDS)),
        offsetMs: this.#offset[0]!, ram: toBase64(this.#ram),
      };
    } finally {
      this.#lock.unlock();
    }
  }

  /** Loads a snapshot's state (checked: ranges, the offset within a Date's range). */
  restoreState(saved: unknown): void {
    const r = new StateReader(saved, 'rtc');
    const index = r.int('index', 0, 0x7f);
    const frozen = r.bool('frozen');
    const limits = [59, 59, 23, 31, 12, 9999];
    const fields = r.array('fields', FIELDS, (v, where) => new StateReader({ v }, where).int('v', 0, 9999));
    if (fields.length !== FIELDS || fields.some((f, i) => f > limits[i]!)) throw new SavedStateError('rtc.fields', 'is not a time');
    const offset = (saved as { offsetMs?: unknown }).offsetMs;
    if (typeof offset !== 'number' || !Number.isFinite(offset) || Math.abs(offset) > MAX_TIME_MS) throw new SavedStateError('rtc.offsetMs', 'is not a time offset');
    const ram = r.bytes('ram', 128);
    this.#lock.lock();
    try {
      this.#w[W_INDEX] = index;
      this.#w[W_FROZEN] = frozen ? 1 : 0;
      fields.forEach((f, i) => { this.#w[W_FIELDS + i] = f; });
      this.#offset[0] = offset as number;
      this.#ram.set(ram);
    } finally {
      this.#lock.unlock();
    }
  }

  /** The time the guest sees, in milliseconds since the epoch. */
  guestTimeMs(): number {
    return this.#now() + this.#offset[0]!;
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
    const w = this.#w;
    const wasSet = (this.#ram[REG_STATUS_B]! & STATUS_B_SET) !== 0;
    const isSet = (value & STATUS_B_SET) !== 0;
    if (!wasSet && isSet && w[W_FROZEN] === 0) {
      this.#currentFields(w, W_FIELDS);
      w[W_FROZEN] = 1;
    }
    if (wasSet && !isSet && w[W_FROZEN] === 1) {
      this.#commit(w, W_FIELDS);
      w[W_FROZEN] = 0;
    }
    this.#ram[REG_STATUS_B] = value;
  }

  get #binary(): boolean {
    return (this.#ram[REG_STATUS_B]! & STATUS_B_BINARY) !== 0;
  }

  get #twentyFourHour(): boolean {
    return (this.#ram[REG_STATUS_B]! & STATUS_B_24H) !== 0;
  }

  /** The visible time (frozen, or the clock's) into `out[at..at+6)`. */
  #currentFields(out: Int32Array, at: number): void {
    const w = this.#w;
    if (w[W_FROZEN] === 1) {
      for (let i = 0; i < FIELDS; i++) out[at + i] = w[W_FIELDS + i]!;
      return;
    }
    const ms = this.guestTimeMs();
    if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) {
      out[at + F_SECONDS] = 0;
      out[at + F_MINUTES] = 0;
      out[at + F_HOURS] = 0;
      out[at + F_DAY] = 1;
      out[at + F_MONTH] = 1;
      out[at + F_YEAR] = 2000;
      return;
    }
    civilFromMs(ms, out, at);
  }

  #readTimeRegister(index: number): number {
    const t = this.#t;
    this.#currentFields(t, 0);
    switch (index) {
      case REG_SECONDS:
        return this.#encode(t[F_SECONDS]!);
      case REG_MINUTES:
        return this.#encode(t[F_MINUTES]!);
      case REG_HOURS:
        return this.#encodeHours(t[F_HOURS]!);
      case REG_DAY_OF_WEEK: { // 1 = Sunday; 1 January 1970 was a Thursday
        const days = daysFromCivil(t[F_YEAR]!, t[F_MONTH]!, t[F_DAY]!);
        return this.#encode((((days + 4) % 7) + 7) % 7 + 1);
      }
      case REG_DAY_OF_MONTH:
        return this.#encode(t[F_DAY]!);
      case REG_MONTH:
        return this.#encode(t[F_MONTH]!);
      case REG_YEAR:
        return this.#encode(t[F_YEAR]! % 100);
      default: // REG_CENTURY
        return this.#encode(Math.floor(t[F_YEAR]! / 100) % 100);
    }
  }

  /** Applies a guest write to one time field; out-of-range values are ignored. */
  #writeTimeRegister(index: number, value: number): void {
    const t = this.#t;
    const at = FIELDS;
    this.#currentFields(t, at);
    if (index === REG_HOURS) {
      const hours = this.#decodeHours(value);
      if (hours === null) return;
      t[at + F_HOURS] = hours;
    } else {
      const v = this.#decode(value);
      if (v === null) return;
      const year = t[at + F_YEAR]!;
      switch (index) {
        case REG_SECONDS:
          if (v > 59) return;
          t[at + F_SECONDS] = v;
          break;
        case REG_MINUTES:
          if (v > 59) return;
          t[at + F_MINUTES] = v;
          break;
        case REG_DAY_OF_MONTH:
          if (v < 1 || v > 31) return;
          t[at + F_DAY] = v;
          break;
        case REG_MONTH:
          if (v < 1 || v > 12) return;
          t[at + F_MONTH] = v;
          break;
        case REG_YEAR:
          t[at + F_YEAR] = year - (year % 100) + v;
          break;
        default: // REG_CENTURY
          t[at + F_YEAR] = v * 100 + (year % 100);
          break;
      }
    }
    const w = this.#w;
    if (w[W_FROZEN] === 1) for (let i = 0; i < FIELDS; i++) w[W_FIELDS + i] = t[at + i]!;
    else this.#commit(t, at);
  }

  #commit(f: Int32Array, at: number): void {
    const guestMs = msFromCivil(f, at);
    const hostMs = this.#now();
    if (!Number.isFinite(guestMs) || !Number.isFinite(hostMs)) return;
    // Keep the host's sub-second phase so the seconds tick where the guest expects.
    this.#offset[0] = guestMs - (hostMs - (hostMs % 1000));
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
