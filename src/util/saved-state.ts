/**
 * Reading a component's saved state back from a snapshot (docs/snapshot.md).
 * Saved state is plain JSON data; bytes travel as base64 strings. A
 * snapshot file is untrusted input, so every reader checks type and range
 * and throws SavedStateError (ERR_SNAPSHOT_MALFORMED) naming the field.
 */
import { TkvmError } from './errors.js';

export class SavedStateError extends TkvmError {
  constructor(where: string, problem: string) {
    super('ERR_SNAPSHOT_MALFORMED', `the snapshot is malformed: ${where}: ${problem}`);
    this.name = 'SavedStateError';
  }
}

/** A view of one saved object that names `where` in its errors. */
export class StateReader {
  readonly where: string;
  readonly #obj: Record<string, unknown>;

  constructor(value: unknown, where: string) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SavedStateError(where, 'is not an object');
    this.where = where;
    this.#obj = value as Record<string, unknown>;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.#obj, key);
  }

  /** An integer in [min, max]. */
  int(key: string, min: number, max: number): number {
    const v = this.#obj[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw this.#bad(key, `must be an integer in [${min}, ${max}]`);
    return v;
  }

  bool(key: string): boolean {
    const v = this.#obj[key];
    if (typeof v !== 'boolean') throw this.#bad(key, 'must be a boolean');
    return v;
  }

  string(key: string, maxLength = 4096): string {
    const v = this.#obj[key];
    if (typeof v !== 'string' || v.length > maxLength) throw this.#bad(key, `must be a string of at most ${maxLength} characters`);
    return v;
  }

  /** A bigint saved as a hex string ("0x..."), in [0, 2^bits). */
  hex(key: string, bits = 64): bigint {
    const v = this.#obj[key];
    if (typeof v !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(v)) throw this.#bad(key, 'must be a hex string');
    const n = BigInt(v);
    if (n >= 1n << BigInt(bits)) throw this.#bad(key, `must be below 2^${bits}`);
    return n;
  }

  /** Bytes saved as base64; exactly `length` of them, or at most `max` when length is null. */
  bytes(key: string, length: number | null, max = 1 << 20): Uint8Array {
    const v = this.#obj[key];
    if (typeof v !== 'string' || v.length > Math.ceil(((length ?? max) * 4) / 3) + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw this.#bad(key, 'must be base64');
    const bytes = new Uint8Array(Buffer.from(v, 'base64'));
    if (length !== null && bytes.length !== length) throw this.#bad(key, `must hold ${length} bytes, holds ${bytes.length}`);
    if (bytes.length > max) throw this.#bad(key, `holds more than ${max} bytes`);
    return bytes;
  }

  /** An array of at most `max` elements, each read by `each`. */
  array<T>(key: string, max: number, each: (value: unknown, where: string, index: number) => T): T[] {
    const v = this.#obj[key];
    if (!Array.isArray(v) || v.length > max) throw this.#bad(key, `must be an array of at most ${max} elements`);
    return v.map((e, i) => each(e, `${this.where}.${key}[${i}]`, i));
  }

  /** A nested object. */
  object(key: string): StateReader {
    return new StateReader(this.#obj[key], `${this.where}.${key}`);
  }

  #bad(key: string, problem: string): SavedStateError {
    return new SavedStateError(`${this.where}.${key}`, problem);
  }
}

/** Bytes as the base64 text StateReader.bytes reads. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
