import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.js';
import { writeStartInfo, HVM_START_MAGIC } from './pvh.js';
import { buildE820, MiB, PVH_START_INFO_ADDR, PVH_MEMMAP_ADDR, PVH_MODLIST_ADDR } from './layout.js';

test('hvm_start_info: magic, version 1, cmdline, memmap and one module', () => {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]);
  writeStartInfo(mem, PVH_START_INFO_ADDR, {
    cmdlineAddr: 0x20000, memmap: buildE820(32 * MiB), initrd: { addr: 0x1f00000, size: 0x1234 },
  });
  const at = PVH_START_INFO_ADDR;
  assert.equal(mem.read32(at), HVM_START_MAGIC);
  assert.equal(HVM_START_MAGIC, 0x336ec578);
  assert.equal(mem.read32(at + 4), 1, 'version');
  assert.equal(mem.read32(at + 8), 0, 'flags');
  assert.equal(mem.read32(at + 12), 1, 'nr_modules');
  assert.equal(mem.read64(at + 16), BigInt(PVH_MODLIST_ADDR), 'modlist_paddr');
  assert.equal(mem.read64(at + 24), 0x20000n, 'cmdline_paddr');
  assert.equal(mem.read64(at + 32), 0n, 'rsdp_paddr');
  assert.equal(mem.read64(at + 40), BigInt(PVH_MEMMAP_ADDR), 'memmap_paddr');
  assert.equal(mem.read32(at + 48), 3, 'memmap_entries');
  assert.equal(mem.read64(PVH_MEMMAP_ADDR + 2 * 24), 0x100000n);
  assert.equal(mem.read64(PVH_MEMMAP_ADDR + 2 * 24 + 8), BigInt(31 * MiB));
  assert.equal(mem.read32(PVH_MEMMAP_ADDR + 2 * 24 + 16), 1, 'XEN_HVM_MEMMAP_TYPE_RAM');
  assert.equal(mem.read32(PVH_MEMMAP_ADDR + 24 + 16), 2, 'XEN_HVM_MEMMAP_TYPE_RESERVED');
  assert.equal(mem.read64(PVH_MODLIST_ADDR), 0x1f00000n);
  assert.equal(mem.read64(PVH_MODLIST_ADDR + 8), 0x1234n);
  assert.equal(mem.read64(PVH_MODLIST_ADDR + 16), 0n);
});

test('without an initrd there are no modules and no module list', () => {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]);
  writeStartInfo(mem, PVH_START_INFO_ADDR, { cmdlineAddr: 0x20000, memmap: buildE820(32 * MiB), acpiRsdpAddr: 0xf0000 });
  assert.equal(mem.read32(PVH_START_INFO_ADDR + 12), 0);
  assert.equal(mem.read64(PVH_START_INFO_ADDR + 16), 0n);
  assert.equal(mem.read64(PVH_START_INFO_ADDR + 32), 0xf0000n);
});
