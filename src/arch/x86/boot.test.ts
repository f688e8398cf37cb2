import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { GuestMemory } from '../../memory/guest-memory.js';
import { FileFormatError, TkvmError, UsageError } from '../../util/errors.js';
import { loadGuest, loadGuestFiles, type BootSetup } from './boot.js';
import { bootFileFromBytes } from './boot-files.js';
import { buildBzImage, buildElf, buildTestGuestElf, payloadByte } from './synthetic-images.js';
import { XEN_ELFNOTE_PHYS32_ENTRY } from './elf.js';
import { ramRegions, MiB, GDT_ADDR, PML4_ADDR, ZERO_PAGE_ADDR, PVH_START_INFO_ADDR, CMDLINE_ADDR } from './layout.js';

const dir = mkdtempSync(join(tmpdir(), 'tkvm-x86-boot-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function memory(memBytes: number): GuestMemory {
  return GuestMemory.fromBuffers(ramRegions(memBytes));
}

function assertTkvmError(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TkvmError, `expected TkvmError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

const initrdBytes = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);

test('bzImage: kernel at 1 MiB, initrd at the top of RAM, zero page and long-mode state', () => {
  const kernelPath = file('bzImage', buildBzImage({ kernelSize: 20000, initSize: 1 * MiB, prefAddress: 0x1000000n }));
  const initrdPath = file('initrd.img', initrdBytes);
  const mem = memory(64 * MiB);
  const boot = loadGuest(mem, { kernelPath, initrdPath, cmdline: 'console=ttyS0 quiet', memBytes: 64 * MiB });
  assert.equal(boot.kind, 'bzimage');
  assert.equal(boot.entry, 0x100200n);
  assert.equal(boot.regs.rip, 0x100200n);
  assert.equal(boot.regs.rsi, BigInt(ZERO_PAGE_ADDR));
  assert.equal(boot.sregs.efer, 0x500n);
  assert.equal(boot.sregs.cs.l, 1);
  assert.equal(boot.msrs.length, 11);
  assert.equal(boot.fpu.fcw, 0x37f);
  assert.equal(mem.read8(0x100000), payloadByte(0));
  assert.equal(mem.read8(0x100000 + 19999), payloadByte(19999));

  const initrdAddr = (64 * MiB - 10000) & ~0xfff;
  assert.deepEqual(boot.layout.initrd, { addr: initrdAddr, size: 10000 });
  assert.deepEqual(mem.read(initrdAddr, 10000), initrdBytes);
  assert.equal(boot.layout.kernelEnd, 17 * MiB);

  assert.equal(mem.readCString(CMDLINE_ADDR, 4096), 'console=ttyS0 quiet');
  const zp = ZERO_PAGE_ADDR;
  assert.equal(mem.read32(zp + 0x202), 0x53726448);
  assert.equal(mem.read8(zp + 0x1f1), 4);
  assert.equal(mem.read8(zp + 0x210), 0xff);
  assert.equal(mem.read32(zp + 0x218), initrdAddr);
  assert.equal(mem.read32(zp + 0x21c), 10000);
  assert.equal(mem.read32(zp + 0x228), CMDLINE_ADDR);
  assert.equal(mem.read8(zp + 0x1e8), 3);
  assert.equal(mem.read64(zp + 0x2d0 + 2 * 20 + 8), BigInt(63 * MiB));
  assert.equal(mem.read64(GDT_ADDR + 0x10), 0x00af9b000000ffffn);
  assert.equal(mem.read64(PML4_ADDR) & 0xfffff000n, 0xa000n);
});

test('the initrd stays below initrd_addr_max', () => {
  const kernelPath = file('bzImage-low-initrd', buildBzImage({ initrdAddrMax: 0x00ffffff }));
  const initrdPath = file('initrd-2.img', initrdBytes);
  const boot = loadGuest(memory(64 * MiB), { kernelPath, initrdPath, cmdline: '', memBytes: 64 * MiB });
  assert.equal(boot.layout.initrd?.addr, (16 * MiB - 10000) & ~0xfff);
});

test('ELF test guest: loaded at p_paddr, entered in long mode at e_entry with a minimal zero page', () => {
  const mem = memory(16 * MiB);
  const boot = loadGuest(mem, { kernelPath: file('guest.elf', buildTestGuestElf()), cmdline: 'test=1', memBytes: 16 * MiB });
  assert.equal(boot.kind, 'elf64');
  assert.equal(boot.entry, 0x200000n);
  assert.equal(boot.regs.rip, 0x200000n);
  assert.equal(boot.regs.rsi, 0x7000n);
  assert.equal(boot.regs.rsp, 0x8ff0n);
  assert.equal(boot.sregs.cr3, 0x9000n);
  assert.equal(mem.read8(0x200000), payloadByte(0));
  assert.equal(mem.read16(ZERO_PAGE_ADDR + 0x1fe), 0xaa55);
  assert.equal(mem.read16(ZERO_PAGE_ADDR + 0x206), 0x020c);
  assert.equal(mem.read32(ZERO_PAGE_ADDR + 0x228), CMDLINE_ADDR);
  assert.equal(mem.read8(ZERO_PAGE_ADDR + 0x1e8), 3);
  assert.equal(mem.readCString(CMDLINE_ADDR, 100), 'test=1');
  assert.deepEqual([boot.layout.kernelStart, boot.layout.kernelEnd], [0x200000, 0x203000]);
});

test('ELF with a Xen PVH note: 32-bit entry with EBX = start_info', () => {
  const entry = new Uint8Array(new Uint32Array([0x200020]).buffer);
  const elf = buildElf({
    entry: 0x200000n,
    segments: [{ paddr: 0x200000n, data: new Uint8Array(0x100) }],
    notes: [{ name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc: entry }],
  });
  const mem = memory(32 * MiB);
  const boot = loadGuestFiles(mem, {
    kernel: bootFileFromBytes('pvh.elf', elf), initrd: bootFileFromBytes('rd', initrdBytes), cmdline: 'pvh', memBytes: 32 * MiB,
  });
  assert.equal(boot.kind, 'pvh');
  assert.equal(boot.entry, 0x200020n);
  assert.equal(boot.regs.rbx, BigInt(PVH_START_INFO_ADDR));
  assert.equal(boot.sregs.cr0 & 0x80000000n, 0n);
  assert.equal(boot.sregs.cs.db, 1);
  assert.equal(mem.read32(PVH_START_INFO_ADDR), 0x336ec578);
  assert.equal(mem.read64(PVH_START_INFO_ADDR + 24), BigInt(CMDLINE_ADDR));
  assert.equal(mem.read32(PVH_START_INFO_ADDR + 12), 1);
  assert.equal(mem.read64(GDT_ADDR + 0x10), 0x00cf9b000000ffffn, '32-bit code segment');
  assert.equal(boot.layout.initrd?.addr, (32 * MiB - 10000) & ~0xfff);
});

test('missing or unreadable files give ERR_FILE_NOT_FOUND / ERR_FILE_ACCESS naming the file', () => {
  const mem = memory(16 * MiB);
  const missing = join(dir, 'no-such-kernel');
  assertTkvmError(() => loadGuest(mem, { kernelPath: missing, cmdline: '', memBytes: 16 * MiB }), 'ERR_FILE_NOT_FOUND',
    new RegExp(`kernel file not found: ${missing}`));
  const sub = join(dir, 'a-directory');
  mkdirSync(sub, { recursive: true });
  assertTkvmError(() => loadGuest(mem, { kernelPath: sub, cmdline: '', memBytes: 16 * MiB }), 'ERR_FILE_ACCESS',
    /cannot read kernel file .*a-directory: not a regular file/);
  const kernelPath = file('guest2.elf', buildTestGuestElf());
  assertTkvmError(() => loadGuest(mem, { kernelPath, initrdPath: join(dir, 'nope.img'), cmdline: '', memBytes: 16 * MiB }),
    'ERR_FILE_NOT_FOUND', /initrd file not found: .*nope\.img/);
});

test('a file that is neither bzImage nor ELF is a FileFormatError', () => {
  const mem = memory(16 * MiB);
  const text = file('README', new TextEncoder().encode('hello, this is not a kernel'));
  assertTkvmError(() => loadGuest(mem, { kernelPath: text, cmdline: '', memBytes: 16 * MiB }), 'ERR_FILE_FORMAT',
    /README: not a bzImage or ELF kernel \(it starts with 68 65 6c 6c\)/);
  const empty = file('empty', new Uint8Array(0));
  assertTkvmError(() => loadGuest(mem, { kernelPath: empty, cmdline: '', memBytes: 16 * MiB }), 'ERR_FILE_FORMAT', /the file is empty/);
});

test('a command line longer than the kernel accepts is a usage error', () => {
  const mem = memory(16 * MiB);
  const kernelPath = file('bzImage-short-cmdline', buildBzImage({ cmdlineSize: 16 }));
  assert.doesNotThrow(() => loadGuest(mem, { kernelPath, cmdline: 'x'.repeat(16), memBytes: 16 * MiB }));
  assert.throws(() => loadGuest(mem, { kernelPath, cmdline: 'x'.repeat(17), memBytes: 16 * MiB }),
    (err: unknown) => err instanceof UsageError && /17 bytes.*accepts at most 16/.test(err.message));
  assert.throws(() => loadGuest(mem, { kernelPath, cmdline: 'a\0b', memBytes: 16 * MiB }), UsageError);
  const huge = file('bzImage-huge-cmdline', buildBzImage({ cmdlineSize: 0xffffffff }));
  assert.throws(() => loadGuest(mem, { kernelPath: huge, cmdline: 'y'.repeat(70000), memBytes: 16 * MiB }),
    (err: unknown) => err instanceof UsageError && /accepts at most 65535/.test(err.message));
  const elfPath = file('guest3.elf', buildTestGuestElf());
  assert.throws(() => loadGuest(mem, { kernelPath: elfPath, cmdline: 'z'.repeat(2048), memBytes: 16 * MiB }), UsageError);
});

test('an initrd that does not fit above the kernel is a FileFormatError naming the initrd', () => {
  const mem = memory(16 * MiB);
  const kernelPath = file('guest4.elf', buildTestGuestElf());
  const big = file('big-initrd.img', new Uint8Array(14 * MiB));
  assert.throws(() => loadGuest(mem, { kernelPath, initrdPath: big, cmdline: '', memBytes: 16 * MiB }), (err: unknown) =>
    err instanceof FileFormatError && err.path === big && /does not fit/.test(err.message));
  const fits = file('fits-initrd.img', new Uint8Array(13 * MiB));
  const boot = loadGuest(mem, { kernelPath, initrdPath: fits, cmdline: '', memBytes: 16 * MiB });
  assert.equal(boot.layout.initrd?.addr, 3 * MiB);
});

test('a kernel file larger than guest RAM is refused before it is read', () => {
  const mem = memory(16 * MiB);
  const kernel = { path: 'giant', size: 17 * MiB, read: (): Uint8Array => assert.fail('must not read') };
  assertTkvmError(() => loadGuestFiles(mem, { kernel, cmdline: '', memBytes: 16 * MiB }), 'ERR_FILE_FORMAT', /^giant: .*larger than/);
});

test('property: a truncated or corrupted bzImage only ever fails with a TkvmError', () => {
  const good = buildBzImage({ kernelSize: 4096, initSize: 64 * 1024 });
  const mem = memory(16 * MiB);
  fc.assert(fc.property(
    fc.nat({ max: good.length }),
    fc.array(fc.tuple(fc.integer({ min: 0x1f0, max: 0x270 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    (length, edits) => {
      const bytes = good.slice(0, length);
      for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
      let boot: BootSetup | undefined;
      try {
        boot = loadGuestFiles(mem, { kernel: bootFileFromBytes('fuzz', bytes), cmdline: 'a=b', memBytes: 16 * MiB });
      } catch (err) {
        if (!(err instanceof TkvmError)) throw err;
        if (!(err instanceof UsageError)) assert.match(err.message, /^fuzz: /);
        return;
      }
      assert.equal(boot.entry, 0x100200n);
    },
  ), { numRuns: 1500 });
});

