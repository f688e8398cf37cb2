import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../../util/errors.js';
import {
  buildE820, ramRegions, lowRamEnd, E820_RAM, E820_RESERVED, GiB, MiB, MIN_MEM_BYTES, MMIO_GAP_END, MMIO_GAP_START,
  BOOT_DATA_END, CMDLINE_ADDR, PML4_ADDR, ZERO_PAGE_ADDR, BOOT_STACK_POINTER, PVH_START_INFO_ADDR, GDT_ADDR,
  TSS_ADDR, PVH_MEMMAP_ADDR, PVH_MEMMAP_MAX_ENTRIES, PVH_MODLIST_ADDR, PAGE_DIRECTORY_ADDR, KERNEL_LOAD_ADDR,
} from './layout.js';

test('the contract addresses have the agreed values', () => {
  assert.equal(MMIO_GAP_START, 0xc000_0000);
  assert.equal(MMIO_GAP_END, 0x1_0000_0000);
  assert.equal(GDT_ADDR, 0x500);
  assert.equal(PVH_START_INFO_ADDR, 0x6000);
  assert.equal(ZERO_PAGE_ADDR, 0x7000);
  assert.equal(BOOT_STACK_POINTER, 0x8ff0);
  assert.equal(PML4_ADDR, 0x9000);
  assert.equal(PAGE_DIRECTORY_ADDR, 0xb000);
  assert.equal(CMDLINE_ADDR, 0x20000);
  assert.equal(KERNEL_LOAD_ADDR, 0x100000);
});

test('boot data structures do not overlap each other', () => {
  const ranges: Array<[string, number, number]> = [
    ['gdt', GDT_ADDR, GDT_ADDR + 6 * 8],
    ['tss', TSS_ADDR, TSS_ADDR + 0x68],
    ['start_info', PVH_START_INFO_ADDR, PVH_START_INFO_ADDR + 56],
    ['memmap', PVH_MEMMAP_ADDR, PVH_MEMMAP_ADDR + PVH_MEMMAP_MAX_ENTRIES * 24],
    ['modlist', PVH_MODLIST_ADDR, PVH_MODLIST_ADDR + 32],
    ['zero page', ZERO_PAGE_ADDR, ZERO_PAGE_ADDR + 4096],
    ['stack', 0x8000, 0x9000],
    ['page tables', PML4_ADDR, PAGE_DIRECTORY_ADDR + 4 * 4096],
    ['cmdline', CMDLINE_ADDR, BOOT_DATA_END],
  ];
  for (const [a, as, ae] of ranges) {
    for (const [b, bs, be] of ranges) {
      if (a !== b) assert.ok(ae <= bs || be <= as, `${a} overlaps ${b}`);
    }
  }
  assert.ok(BOOT_DATA_END <= KERNEL_LOAD_ADDR);
});

test('ramRegions: one region up to 3 GiB, a second from 4 GiB beyond that', () => {
  assert.deepEqual(ramRegions(16 * MiB), [{ guestBase: 0, size: 16 * MiB }]);
  assert.deepEqual(ramRegions(3 * GiB), [{ guestBase: 0, size: 3 * GiB }]);
  assert.deepEqual(ramRegions(5 * GiB), [{ guestBase: 0, size: 3 * GiB }, { guestBase: 4 * GiB, size: 2 * GiB }]);
  assert.equal(lowRamEnd(5 * GiB), 3 * GiB);
});

test('ramRegions rejects sizes that are too small, too large or not page multiples', () => {
  for (const bad of [0, MIN_MEM_BYTES - 4096, 16 * MiB + 1, -4096, Number.NaN, 2 ** 41, 1.5]) {
    assert.throws(() => ramRegions(bad), UsageError, String(bad));
  }
  assert.equal(MIN_MEM_BYTES, 16 * MiB);
});

test('buildE820: low memory, reserved legacy hole, RAM from 1 MiB, high RAM', () => {
  assert.deepEqual(buildE820(64 * MiB), [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820_RESERVED },
    { addr: 0x100000, size: 63 * MiB, type: E820_RAM },
  ]);
  const big = buildE820(4 * GiB);
  assert.equal(big.length, 4);
  assert.deepEqual(big[2], { addr: 0x100000, size: 3 * GiB - 0x100000, type: E820_RAM });
  assert.deepEqual(big[3], { addr: 4 * GiB, size: 1 * GiB, type: E820_RAM });
});

test('property: e820 entries are sorted, disjoint, outside the MMIO gap and sum to the RAM size', () => {
  fc.assert(fc.property(fc.integer({ min: MIN_MEM_BYTES / 4096, max: (64 * GiB) / 4096 }), (pages) => {
    const mem = pages * 4096;
    const map = buildE820(mem);
    let ram = 0;
    for (let i = 0; i < map.length; i++) {
      const e = map[i]!;
      if (i > 0) assert.ok(map[i - 1]!.addr + map[i - 1]!.size <= e.addr);
      assert.ok(e.addr + e.size <= MMIO_GAP_START || e.addr >= MMIO_GAP_END);
      ram += e.size;
    }
    assert.equal(ram, mem);
  }));
});
