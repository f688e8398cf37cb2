/**
 * A minimal AML (ACPI Machine Language) encoder: only the terms tkvm's DSDT
 * uses. Section numbers refer to ACPI 6.5: chapter 20 "ACPI Machine
 * Language (AML) Specification" for the byte encoding, and 6.4 "Resource
 * Data Types for ACPI" for resource descriptors.
 */
import { ByteWriter, concatBytes } from './bytes.js';

/** Opcodes (20.3 "AML Byte Stream Byte Values"). */
const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const NAME_OP = 0x08;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const QWORD_PREFIX = 0x0e;
const SCOPE_OP = 0x10;
const BUFFER_OP = 0x11;
const PACKAGE_OP = 0x12;
const EXT_OP_PREFIX = 0x5b;
const DEVICE_OP = 0x82; // after EXT_OP_PREFIX
const ROOT_CHAR = 0x5c; // '\'
const DUAL_NAME_PREFIX = 0x2e;
const MULTI_NAME_PREFIX = 0x2f;

/** The largest PkgLength: 28 bits (20.2.4 "Package Length Encoding"). */
const MAX_PKG_LENGTH = (1 << 28) - 1;

/**
 * NameSeg (20.2.2): four characters, a leading 'A'-'Z' or '_', then
 * 'A'-'Z', '0'-'9' or '_'; shorter names are padded with '_'.
 */
export function nameSeg(seg: string): Uint8Array {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new RangeError(`invalid AML NameSeg "${seg}"`);
  return new TextEncoder().encode(seg.padEnd(4, '_'));
}

/**
 * NameString (20.2.2): an optional root prefix '\' and one or more
 * dot-separated NameSegs ("\_SB_.PCI0"), with the dual/multi name prefixes.
 */
export function nameString(path: string): Uint8Array {
  const rooted = path.startsWith('\\');
  const rest = rooted ? path.slice(1) : path;
  const segs = rest.split('.').map(nameSeg);
  if (segs.length > 255) throw new RangeError(`AML name "${path}" has too many segments`);
  const prefix = rooted ? [ROOT_CHAR] : [];
  if (segs.length === 1) return concatBytes([Uint8Array.from(prefix), segs[0]!]);
  if (segs.length === 2) return concatBytes([Uint8Array.from([...prefix, DUAL_NAME_PREFIX]), ...segs]);
  return concatBytes([Uint8Array.from([...prefix, MULTI_NAME_PREFIX, segs.length]), ...segs]);
}

/**
 * PkgLength (20.2.4) for a body of `bodyLength` bytes: the encoded length
 * counts the PkgLength bytes themselves. One byte holds up to 63; longer
 * lengths put the byte count in bits 7-6 of the lead byte, the low nibble
 * in bits 3-0, and the rest in up to three following bytes.
 */
export function pkgLength(bodyLength: number): Uint8Array {
  for (let extra = 0; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (extra === 0 && total <= 0x3f) return Uint8Array.of(total);
    if (extra > 0 && total < 2 ** (4 + 8 * extra)) {
      if (total > MAX_PKG_LENGTH) break;
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0x0f);
      for (let i = 1; i <= extra; i++) out[i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new RangeError(`AML package of ${bodyLength} bytes is too long`);
}

/**
 * An integer in the smallest encoding (20.2.3 "Data Objects Encoding"):
 * ZeroOp, OneOp, or a Byte/Word/DWord/QWord constant.
 */
export function integer(value: number | bigint): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`AML integer ${value} is out of range`);
  if (v === 0n) return Uint8Array.of(ZERO_OP);
  if (v === 1n) return Uint8Array.of(ONE_OP);
  const w = new ByteWriter();
  if (v <= 0xffn) w.u8(BYTE_PREFIX).u8(Number(v));
  else if (v <= 0xffffn) w.u8(WORD_PREFIX).u16(Number(v));
  else if (v <= 0xffff_ffffn) w.u8(DWORD_PREFIX).u32(Number(v));
  else w.u8(QWORD_PREFIX).u64(v);
  return w.finish();
}

/**
 * EISAID("PNP0A03") (19.6.43 "EISAID"): three uppercase letters packed in
 * 5 bits each and four hex digits, as the DWord constant ASL compilers emit.
 */
export function eisaId(id: string): Uint8Array {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`invalid EISA id "${id}"`);
  const c = (i: number) => id.charCodeAt(i) - 0x40;
  const b0 = (c(0) << 2) | (c(1) >> 3);
  const b1 = ((c(1) & 0x7) << 5) | c(2);
  const b2 = parseInt(id.slice(3, 5), 16);
  const b3 = parseInt(id.slice(5, 7), 16);
  return Uint8Array.of(DWORD_PREFIX, b0, b1, b2, b3);
}

/** String := StringPrefix AsciiCharList NullChar, StringPrefix = 0x0D (20.2.3). */
export function string(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.some((b) => b === 0 || b > 0x7f)) throw new RangeError(`AML strings are 7-bit ASCII without NUL: ${JSON.stringify(text)}`);
  return concatBytes([Uint8Array.of(0x0d), bytes, Uint8Array.of(0)]);
}

/** DefName := NameOp NameString DataRefObject (20.2.5.1). */
export function name(path: string, value: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.of(NAME_OP), nameString(path), value]);
}

/** DefPackage := PackageOp PkgLength NumElements PackageElementList (20.2.5.4). */
export function pkg(elements: readonly Uint8Array[]): Uint8Array {
  if (elements.length > 255) throw new RangeError('AML package has more than 255 elements');
  const body = concatBytes([Uint8Array.of(elements.length), ...elements]);
  return concatBytes([Uint8Array.of(PACKAGE_OP), pkgLength(body.length), body]);
}

/** DefScope := ScopeOp PkgLength NameString TermList (20.2.5.1). */
export function scope(path: string, terms: readonly Uint8Array[]): Uint8Array {
  const body = concatBytes([nameString(path), ...terms]);
  return concatBytes([Uint8Array.of(SCOPE_OP), pkgLength(body.length), body]);
}

/** DefDevice := DeviceOp PkgLength NameString TermList, DeviceOp = ExtOpPrefix 0x82 (20.2.5.2). */
export function device(path: string, terms: readonly Uint8Array[]): Uint8Array {
  const body = concatBytes([nameString(path), ...terms]);
  return concatBytes([Uint8Array.of(EXT_OP_PREFIX, DEVICE_OP), pkgLength(body.length), body]);
}

/** DefBuffer := BufferOp PkgLength BufferSize ByteList (20.2.5.4). */
export function buffer(bytes: Uint8Array): Uint8Array {
  const body = concatBytes([integer(bytes.length), bytes]);
  return concatBytes([Uint8Array.of(BUFFER_OP), pkgLength(body.length), body]);
}

// ---- Resource descriptors (6.4) ----

/** End Tag (6.4.2.9): small item 0x0F, length 1; a zero checksum means "treat as valid". */
const END_TAG = Uint8Array.of(0x79, 0x00);

/** A ResourceTemplate(): the descriptors and an End Tag, in a Buffer (19.6.117). */
export function resourceTemplate(descriptors: readonly Uint8Array[]): Uint8Array {
  return buffer(concatBytes([...descriptors, END_TAG]));
}

/** IO(Decode16, min, max, align, length) (6.4.2.5 "I/O Port Descriptor"), 8 bytes. */
export function io(min: number, max: number, alignment: number, length: number): Uint8Array {
  return new ByteWriter().u8(0x47).u8(0x01).u16(min).u16(max).u8(alignment).u8(length).finish();
}

/** IRQNoFlags(){irqs} (6.4.2.1 "IRQ Descriptor", 2-byte form: edge, active high), 3 bytes. */
export function irqNoFlags(irqs: readonly number[]): Uint8Array {
  let mask = 0;
  for (const irq of irqs) {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new RangeError(`ISA IRQ ${irq} is out of range`);
    mask |= 1 << irq;
  }
  return new ByteWriter().u8(0x22).u16(mask).finish();
}

/** Memory32Fixed(ReadWrite|ReadOnly, base, length) (6.4.3.4), 12 bytes. */
export function memory32Fixed(base: number, length: number, readWrite = true): Uint8Array {
  return new ByteWriter().u8(0x86).u16(9).u8(readWrite ? 1 : 0).u32(base).u32(length).finish();
}

/** General flags of address space descriptors (6.4.3.5.1, table 6.50). */
const ADDRESS_CONSUMER = 1 << 0;
const ADDRESS_MIN_FIXED = 1 << 2;
const ADDRESS_MAX_FIXED = 1 << 3;
/** Resource types of address space descriptors. */
const RESOURCE_TYPE_MEMORY = 0;
const RESOURCE_TYPE_IO = 1;
const RESOURCE_TYPE_BUS_NUMBER = 2;

function wordAddressSpace(resourceType: number, typeFlags: number, min: number, max: number): Uint8Array {
  if (max < min) throw new RangeError(`address range ${min}-${max} is empty`);
  return new ByteWriter()
    .u8(0x88).u16(13)
    .u8(resourceType).u8(ADDRESS_MIN_FIXED | ADDRESS_MAX_FIXED).u8(typeFlags)
    .u16(0) // granularity
    .u16(min).u16(max)
    .u16(0) // translation offset
    .u16(max - min + 1)
    .finish();
}

/**
 * WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...)
 * (6.4.3.5.3 "Word Address Space Descriptor", resource type 2), 16 bytes.
 */
export function wordBusNumber(min: number, max: number): Uint8Array {
  return wordAddressSpace(RESOURCE_TYPE_BUS_NUMBER, 0, min, max);
}

/**
 * WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...)
 * (6.4.3.5.3, resource type 1; I/O type-specific flags 6.4.3.5.4: _RNG = 3), 16 bytes.
 */
export function wordIo(min: number, max: number): Uint8Array {
  return wordAddressSpace(RESOURCE_TYPE_IO, 0x3, min, max);
}

/**
 * QWordMemory(producer or consumer, PosDecode, MinFixed, MaxFixed,
 * NonCacheable, ReadWrite, ...) (6.4.3.5.1 "QWord Address Space Descriptor";
 * memory type-specific flags 6.4.3.5.4: bit 0 read/write, bits 2-1 _MEM = 0
 * non-cacheable), 46 bytes.
 */
export function qwordMemory(min: number | bigint, max: number | bigint, consumer = false): Uint8Array {
  const lo = BigInt(min);
  const hi = BigInt(max);
  if (hi < lo) throw new RangeError(`address range ${min}-${max} is empty`);
  return new ByteWriter()
    .u8(0x8a).u16(43)
    .u8(RESOURCE_TYPE_MEMORY).u8(ADDRESS_MIN_FIXED | ADDRESS_MAX_FIXED | (consumer ? ADDRESS_CONSUMER : 0)).u8(0x01)
    .u64(0) // granularity
    .u64(lo).u64(hi)
    .u64(0) // translation offset
    .u64(hi - lo + 1n)
    .finish();
}
