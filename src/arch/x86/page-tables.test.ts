import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory } from '../../memory/guest-memory.js';
import { writeIdentityPageTables, PTE_PCD, PTE_PWT, PTE_PAGE_SIZE } from './page-tables.js';
import { PML4_ADDR, PDPT_ADDR, PAGE_DIRECTORY_ADDR, GiB, MiB } from './layout.js';

function tables(): GuestMemory {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]);
  mem.fill(0, 0x10000, 0xff);
  writeIdentityPageTables(mem);
  return mem;
}

/** A software 4-level walk (SDM 4.5) of a 64-bit linear address; undefined if not present. */
function translate(mem: GuestMemory, cr3: number, va: bigint): { pa: bigint; flags: bigint } | undefined {
  const pml4e = mem.read64(cr3 + Number((va >> 39n) & 511n) * 8);
  if ((pml4e & 1n) === 0n) return undefined;
  const pdpte = mem.read64(Number(pml4e & 0xffffffffff000n) + Number((va >> 30n) & 511n) * 8);
  if ((pdpte & 1n) === 0n || (pdpte & PTE_PAGE_SIZE) !== 0n) return undefined;
  const pde = mem.read64(Number(pdpte & 0xffffffffff000n) + Number((va >> 21n) & 511n) * 8);
  if ((pde & 1n) === 0n || (pde & PTE_PAGE_SIZE) === 0n) return undefined;
  return { pa: (pde & 0xfffffffe00000n) | (va & 0x1fffffn), flags: pde & 0xfffn };
}

test('PML4 and PDPT entries point at the next level, present and writable', () => {
  const mem = tables();
  assert.equal(mem.read64(PML4_ADDR), BigInt(PDPT_ADDR) | 3n);
  assert.equal(mem.read64(PML4_ADDR + 8), 0n);
  for (let i = 0; i < 4; i++) assert.equal(mem.read64(PDPT_ADDR + i * 8), BigInt(PAGE_DIRECTORY_ADDR + i * 4096) | 3n);
  assert.equal(mem.read64(PDPT_ADDR + 4 * 8), 0n);
});

test('page directory entries map 2 MiB pages; the MMIO gap is uncached', () => {
  const mem = tables();
  assert.equal(mem.read64(PAGE_DIRECTORY_ADDR), 0x83n);
  assert.equal(mem.read64(PAGE_DIRECTORY_ADDR + 8), 0x200083n);
  assert.equal(mem.read64(PAGE_DIRECTORY_ADDR + 3 * 4096), 0xc0000000n | 0x83n | PTE_PCD | PTE_PWT);
  assert.equal(mem.read64(PAGE_DIRECTORY_ADDR + 4 * 4096 - 8), 0xffe00000n | 0x83n | PTE_PCD | PTE_PWT);
});

test('property: every address below 4 GiB translates to itself; 4 GiB and above is unmapped', () => {
  const mem = tables();
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: BigInt(4 * GiB - 1) }), (va) => {
    const t = translate(mem, PML4_ADDR, va);
    assert.ok(t);
    assert.equal(t.pa, va);
    assert.equal((t.flags & PTE_PCD) !== 0n, va >= 0xc0000000n);
  }));
  assert.equal(translate(mem, PML4_ADDR, BigInt(4 * GiB)), undefined);
  assert.equal(translate(mem, PML4_ADDR, BigInt(4 * GiB + 2 * MiB)), undefined);
});
