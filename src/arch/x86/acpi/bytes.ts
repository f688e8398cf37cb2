/**
 * Little-endian byte building for firmware tables (ACPI and the Intel MP
 * table are both little-endian, byte-packed structures).
 */

/** A growable little-endian byte buffer. */
export class ByteWriter {
  #bytes = new Uint8Array(64);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, at + n));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
    }
    this.#length += n;
    return at;
  }

  u8(value: number): this {
    const v = checkedUint(value, 8);
    const at = this.#reserve(1);
    this.#bytes[at] = v;
    return this;
  }

  u16(value: number): this {
    const v = checkedUint(value, 16);
    const at = this.#reserve(2);
    this.#bytes[at] = v & 0xff;
    this.#bytes[at + 1] = v >>> 8;
    return this;
  }

  u32(value: number): this {
    const v = checkedUint(value, 32);
    const at = this.#reserve(4);
    new DataView(this.#bytes.buffer).setUint32(at, v, true);
    return this;
  }

  u64(value: number | bigint): this {
    const v = BigInt(value);
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`${value} does not fit in 64 bits`);
    const at = this.#reserve(8);
    new DataView(this.#bytes.buffer).setBigUint64(at, v, true);
    return this;
  }

  /** ASCII text in a fixed-size field, padded with `pad` (space or NUL). */
  ascii(text: string, size: number, pad = ' '): this {
    if (text.length > size) throw new RangeError(`"${text}" is longer than ${size} bytes`);
    const padded = text.padEnd(size, pad);
    for (let i = 0; i < size; i++) {
      const c = padded.charCodeAt(i);
      if (c > 0x7e) throw new RangeError(`"${text}" is not ASCII`);
      this.u8(c);
    }
    return this;
  }

  bytes(data: Uint8Array): this {
    const at = this.#reserve(data.length);
    this.#bytes.set(data, at);
    return this;
  }

  zeros(n: number): this {
    this.#reserve(n);
    return this;
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

function checkedUint(value: number, bits: 8 | 16 | 32): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) throw new RangeError(`${value} does not fit in ${bits} bits`);
  return value;
}

/** The byte that makes `data` sum to 0 mod 256 when stored in place of a zero byte. */
export function checksumByte(data: Uint8Array): number {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** Sum of all bytes, mod 256 (0 for a table with a correct checksum). */
export function byteSum(data: Uint8Array): number {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xff;
  return sum;
}

/** Stores the checksum byte at `offset` so that data[start, end) sums to 0 mod 256. */
export function fixChecksum(data: Uint8Array, offset: number, start = 0, end = data.length): void {
  data[offset] = 0;
  data[offset] = checksumByte(data.subarray(start, end));
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
