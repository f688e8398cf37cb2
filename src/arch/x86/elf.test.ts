import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory } from '../../memory/guest-memory.js';
import { FileFormatError } from '../../util/errors.js';
import { parseElfKernel, loadElfKernel, isElf, XEN_ELFNOTE_PHYS32_ENTRY, ET_DYN } from './elf.js';
import { buildElf, buildTestGuestElf, payloadByte, type ElfSpec } from './synthetic-images.js';
import { BOOT_DATA_END, MiB } from './layout.js';

const PATH = '/images/guest.elf';
const RAM = 16 * MiB;
const inRam = (addr: number, len: number): boolean => addr >= BOOT_DATA_END && addr + len <= RAM;

function assertFormatError(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => parseElfKernel(PATH, bytes, inRam), (err: unknown) => {
    assert.ok(err instanceof FileFormatError, `expected FileFormatError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${PATH}: `), err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint): Uint8Array => new Uint8Array(new BigUint64Array([n]).buffer);

test('a test-guest ELF: segments at p_paddr, entry = e_entry, bss zeroed', () => {
  const bytes = buildTestGuestElf();
  assert.equal(isElf(bytes), true);
  const elf = parseElfKernel(PATH, bytes, inRam);
  assert.equal(elf.entry64, 0x200000);
  assert.equal(elf.pvhEntry, undefined);
  assert.equal(elf.start, 0x200000);
  assert.equal(elf.end, 0x203000);
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: RAM }]);
  mem.fill(0x200000, 0x4000, 0xaa);
  loadElfKernel(mem, bytes, elf);
  assert.equal(mem.read8(0x200000), payloadByte(0));
  assert.equal(mem.read8(0x20003f), payloadByte(63));
  assert.equal(mem.read8(0x200040), 0xaa, 'gap between segments untouched');
  assert.equal(mem.read8(0x201000), 0x40);
  assert.equal(mem.read8(0x20101f), 0x40 + 31);
  assert.ok(mem.read(0x201020, 0x2000 - 0x20).every((b) => b === 0), 'bss zeroed');
  assert.equal(mem.read8(0x203000), 0xaa, 'nothing past p_memsz');
});

test('a vmlinux-style virtual e_entry is translated through its segment', () => {
  const elf = parseElfKernel(PATH, buildElf({
    entry: 0xffffffff81000040n,
    type: ET_DYN,
    segments: [{ paddr: 0x800000n, vaddr: 0xffffffff81000000n, data: new Uint8Array(0x100) }],
  }), inRam);
  assert.equal(elf.entry64, 0x800040);
});

test('the Xen PHYS32_ENTRY note gives the PVH entry (4- and 8-byte values)', () => {
  for (const desc of [u32(0x200010), u64(0x200010n)]) {
    const elf = parseElfKernel(PATH, buildElf({
      entry: 0x200000n,
      segments: [{ paddr: 0x200000n, data: new Uint8Array(64) }],
      notes: [
        { name: 'GNU', type: 3, desc: new Uint8Array(20) },
        { name: 'Xen', type: 6, desc: u32(1) },
        { name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc },
      ],
    }), inRam);
    assert.equal(elf.pvhEntry, 0x200010);
  }
  const other = parseElfKernel(PATH, buildElf({
    entry: 0x200000n, segments: [{ paddr: 0x200000n, data: new Uint8Array(64) }],
    notes: [{ name: 'Linux', type: XEN_ELFNOTE_PHYS32_ENTRY, desc: u32(0x200010) }],
  }), inRam);
  assert.equal(other.pvhEntry, undefined, 'only the "Xen" owner counts');
});

test('malformed ELF files give FileFormatErrors naming the file', () => {
  const seg = { paddr: 0x200000n, data: new Uint8Array(64) };
  const base: ElfSpec = { entry: 0x200000n, segments: [seg] };
  const good = buildElf(base);
  assertFormatError(good.subarray(0, 40), /truncated.*ELF64 header/);
  assertFormatError(buildElf({ ...base, elfClass: 1 }), /64-bit/);
  assertFormatError(buildElf({ ...base, dataEncoding: 2 }), /little-endian/);
  assertFormatError(buildElf({ ...base, machine: 3 }), /machine 3 is not x86-64/);
  assertFormatError(buildElf({ ...base, type: 1 }), /not an executable/);
  assertFormatError(good.subarray(0, 100), /program headers lie past/);
  assertFormatError(buildElf({ ...base, segments: [{ ...seg, offset: 0x10000n }] }), /truncated.*program header 0/);
  assertFormatError(buildElf({ ...base, segments: [{ ...seg, filesz: 2n ** 64n - 1n }] }), /truncated/);
  assertFormatError(buildElf({ ...base, segments: [{ ...seg, memsz: 16n }] }), /p_filesz.*exceeds p_memsz/);
  assertFormatError(buildElf({ entry: 0xff0000n, segments: [{ ...seg, paddr: 0xff0000n, memsz: 0x20000n }] }), /outside guest RAM/);
  assertFormatError(buildElf({ entry: 0x10000n, segments: [{ ...seg, paddr: 0x10000n }] }), /boot data/);
  assertFormatError(buildElf({ ...base, segments: [{ ...seg, paddr: 2n ** 64n - 32n }] }), /outside guest RAM/);
  assertFormatError(buildElf({ ...base, entry: 0x300000n }), /entry point 0x300000 is not inside/);
  assertFormatError(buildElf({ ...base, entry: 0xffffffff81000000n }), /entry point/);
  assertFormatError(buildElf({ ...base, segments: [{ ...seg, type: 6 }] }), /no PT_LOAD/);
  const badNote = buildElf({ ...base, notes: [{ name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc: new Uint8Array(2) }] });
  assertFormatError(badNote, /2-byte value/);
  const pvhOutside = buildElf({ ...base, notes: [{ name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc: u32(0x900000) }] });
  assertFormatError(pvhOutside, /PVH entry point 0x900000/);
  // A note whose descsz runs past the segment.
  const notes = buildElf({ ...base, notes: [{ name: 'Xen', type: 1, desc: u32(0) }] });
  const v = new DataView(notes.buffer);
  const noteAt = notes.length - 20;
  v.setUint32(noteAt + 4, 0x1000, true);
  assertFormatError(notes, /note runs past/);
});

test('property: corrupting or truncating an ELF never throws anything but FileFormatError', () => {
  const good = buildElf({
    entry: 0x200000n,
    segments: [{ paddr: 0x200000n, data: new Uint8Array(64) }, { paddr: 0x201000n, data: new Uint8Array(16), memsz: 0x100n }],
    notes: [{ name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc: u32(0x200000) }],
  });
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: RAM }]);
  const isLoadable = (addr: number, len: number): boolean => addr >= BOOT_DATA_END && mem.isValidRange(addr, len);
  fc.assert(fc.property(
    fc.nat({ max: good.length }),
    fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    (length, edits) => {
      const bytes = good.slice(0, length);
      for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
      try {
        const elf = parseElfKernel(PATH, bytes, isLoadable);
        loadElfKernel(mem, bytes, elf);
      } catch (err) {
        if (!(err instanceof FileFormatError)) throw err;
      }
    },
  ), { numRuns: 2000 });
});
