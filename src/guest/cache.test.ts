import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cacheRoot, guestCacheLayout, initramfsKey, kernelKey, type InitramfsInputs, type KernelInputs } from './cache.js';

const KERNEL: KernelInputs = {
  builderVersion: 1,
  configFragment: 'CONFIG_SMP=y\n',
  patches: [
    { name: '0001-a.patch', content: 'diff a' },
    { name: '0002-b.patch', content: Buffer.from('diff b') },
  ],
  linuxSourceVersion: '6.1.192-2',
};

const INITRAMFS: InitramfsInputs = { builderVersion: 1, initScript: '#!/bin/sh\n', busyboxVersion: '1:1.35.0-4' };

test('the kernel key is stable for equal inputs', () => {
  const copy: KernelInputs = {
    ...KERNEL,
    patches: [
      { name: '0001-a.patch', content: Buffer.from('diff a') },
      { name: '0002-b.patch', content: 'diff b' },
    ],
  };
  assert.equal(kernelKey(copy), kernelKey(KERNEL));
  assert.match(kernelKey(KERNEL), /^[0-9a-f]{20}$/);
});

test('the kernel key changes when any input changes', () => {
  const base = kernelKey(KERNEL);
  const variants: KernelInputs[] = [
    { ...KERNEL, builderVersion: 2 },
    { ...KERNEL, configFragment: 'CONFIG_SMP=n\n' },
    { ...KERNEL, linuxSourceVersion: '6.1.192-1' },
    { ...KERNEL, patches: KERNEL.patches.slice(0, 1) },
    { ...KERNEL, patches: [...KERNEL.patches].reverse() },
    { ...KERNEL, patches: [{ name: '0001-a.patch', content: 'diff A' }, KERNEL.patches[1]!] },
    { ...KERNEL, patches: [{ name: '0001-renamed.patch', content: 'diff a' }, KERNEL.patches[1]!] },
  ];
  const keys = variants.map(kernelKey);
  for (const key of keys) assert.notEqual(key, base);
  assert.equal(new Set(keys).size, keys.length);
});

test('the initramfs key changes when any input changes, and not otherwise', () => {
  const base = initramfsKey(INITRAMFS);
  assert.equal(initramfsKey({ ...INITRAMFS }), base);
  const keys = [
    initramfsKey({ ...INITRAMFS, builderVersion: 2 }),
    initramfsKey({ ...INITRAMFS, initScript: '#!/bin/sh \n' }),
    initramfsKey({ ...INITRAMFS, busyboxVersion: '1:1.36.1-1' }),
  ];
  for (const key of keys) assert.notEqual(key, base);
  // Kernel and initramfs keys of look-alike inputs never collide.
  assert.notEqual(
    initramfsKey({ builderVersion: 1, initScript: '', busyboxVersion: '' }),
    kernelKey({ builderVersion: 1, configFragment: '', patches: [], linuxSourceVersion: '' }),
  );
});

test('cacheRoot follows XDG_CACHE_HOME when it is absolute, else ~/.cache', () => {
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/var/cache/me', HOME: '/home/u' }), '/var/cache/me/tkvm');
  assert.equal(cacheRoot({ HOME: '/home/u' }), '/home/u/.cache/tkvm');
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '', HOME: '/home/u' }), '/home/u/.cache/tkvm');
  // The XDG spec says relative paths are invalid and must be ignored.
  assert.equal(cacheRoot({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' }), '/home/u/.cache/tkvm');
});

test('the cache layout names directories after the keys', () => {
  const layout = guestCacheLayout('/c/tkvm', { kernel: 'k1', initramfs: 'i1' });
  assert.equal(layout.kernel, join('/c/tkvm/guest/kernel-k1', 'vmlinux'));
  assert.equal(layout.bzImage, join('/c/tkvm/guest/kernel-k1', 'bzImage'));
  assert.equal(layout.initrd, join('/c/tkvm/guest/initramfs-i1', 'initramfs.cpio'));
  assert.equal(layout.log, '/c/tkvm/guest/logs/setup.log');
});
