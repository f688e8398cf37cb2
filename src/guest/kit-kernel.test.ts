/**
 * Real kernels through the boot loader (not a KVM test): the default guest
 * kit's always (it is built when missing, as CI builds it for the Linux
 * tests anyway): its vmlinux, which tkvm boots, and its bzImage; and a
 * distribution bzImage too where the machine has one (/boot/vmlinuz*, or
 * TKVM_TEST_BZIMAGE).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadGuest } from '../arch/x86/boot.js';
import { MiB, ramRegions, ZERO_PAGE_ADDR } from '../arch/x86/layout.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { ensureDefaultGuest } from './default-guest.js';

function distributionKernel(): string | undefined {
  const env = process.env['TKVM_TEST_BZIMAGE'];
  if (env) return env;
  if (!existsSync('/boot')) return undefined;
  const name = readdirSync('/boot').find((n) => /^vmlinuz/.test(n));
  return name ? join('/boot', name) : undefined;
}

test('real bzImages (the kit\'s, and a distribution kernel where present) parse and load', { timeout: 30 * 60_000 }, async () => {
  const kit = await ensureDefaultGuest();
  const kernels = [join(dirname(kit.kernel), 'bzImage'), distributionKernel()].filter((k): k is string => k !== undefined);
  for (const kernelPath of kernels) {
    const memBytes = 512 * MiB;
    const mem = GuestMemory.fromBuffers(ramRegions(memBytes));
    try {
      const boot = loadGuest(mem, { kernelPath, cmdline: 'console=ttyS0', memBytes });
      assert.equal(boot.kind, 'bzimage', kernelPath);
      assert.equal(boot.entry, 0x100200n, kernelPath);
      assert.ok(mem.read16(ZERO_PAGE_ADDR + 0x206) >= 0x020c, `${kernelPath}: boot protocol 2.12 or later`);
      assert.ok(boot.layout.kernelEnd > 0x100000, kernelPath);
    } finally {
      mem.close();
    }
  }
});

test('the kit\'s vmlinux loads as an ELF kernel with the PVH entry, so no decompressor runs in the guest', { timeout: 30 * 60_000 }, async () => {
  const kit = await ensureDefaultGuest();
  const memBytes = 512 * MiB;
  const mem = GuestMemory.fromBuffers(ramRegions(memBytes));
  try {
    const boot = loadGuest(mem, { kernelPath: kit.kernel, cmdline: 'console=ttyS0', memBytes });
    assert.equal(boot.kind, 'pvh', kit.kernel);
    assert.ok(boot.layout.kernelStart >= 0x100000, 'loaded at its physical address, above 1 MiB');
    assert.ok(boot.layout.kernelEnd - boot.layout.kernelStart > 4 * MiB, 'the whole uncompressed kernel is in guest RAM');
  } finally {
    mem.close();
  }
});
