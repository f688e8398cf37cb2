import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBootParams } from './boot-params.js';
import { parseBzImage } from './bzimage.js';
import { buildBzImage } from './synthetic-images.js';
import { buildE820, MiB, GiB } from './layout.js';

const view = (page: Uint8Array): DataView => new DataView(page.buffer, page.byteOffset, page.byteLength);

test('bzImage zero page: the kernel header copied at 0x1f1 plus the loader fields', () => {
  const image = parseBzImage('k', buildBzImage({ setupSects: 7, cmdlineSize: 4095 }));
  const page = buildBootParams({
    setupHeader: image.setupHeader, kernelAddr: 0x100000, cmdlineAddr: 0x20000, cmdlineSize: 12,
    initrd: { addr: 0x3ff0000, size: 0x8000 }, e820: buildE820(64 * MiB), initrdAddrMax: image.initrdAddrMax,
  });
  const v = view(page);
  assert.equal(page.length, 4096);
  assert.equal(v.getUint8(0x1f1), 7, 'setup_sects');
  assert.equal(v.getUint16(0x1fe, true), 0xaa55, 'boot_flag');
  assert.equal(v.getUint32(0x202, true), 0x53726448, 'HdrS');
  assert.equal(v.getUint16(0x206, true), 0x020f, 'version');
  assert.equal(v.getUint8(0x210), 0xff, 'type_of_loader');
  assert.equal(v.getUint8(0x211) & 0x81, 0x81, 'loadflags LOADED_HIGH | CAN_USE_HEAP');
  assert.equal(v.getUint32(0x214, true), 0x100000, 'code32_start');
  assert.equal(v.getUint32(0x218, true), 0x3ff0000, 'ramdisk_image');
  assert.equal(v.getUint32(0x21c, true), 0x8000, 'ramdisk_size');
  assert.equal(v.getUint32(0x228, true), 0x20000, 'cmd_line_ptr');
  assert.equal(v.getUint32(0x238, true), 4095, 'cmdline_size stays the kernel\'s');
  assert.equal(v.getUint32(0x0c0, true), 0, 'ext_ramdisk_image');
  assert.equal(v.getUint32(0x0c8, true), 0, 'ext_cmd_line_ptr');
  assert.equal(v.getUint8(0x1ef), 0, 'sentinel');
  assert.equal(v.getUint8(0x1e8), 3, 'e820_entries');
  const entry = (i: number): [bigint, bigint, number] =>
    [v.getBigUint64(0x2d0 + i * 20, true), v.getBigUint64(0x2d8 + i * 20, true), v.getUint32(0x2e0 + i * 20, true)];
  assert.deepEqual(entry(0), [0n, 0x9fc00n, 1]);
  assert.deepEqual(entry(1), [0x9fc00n, 0x60400n, 2]);
  assert.deepEqual(entry(2), [0x100000n, BigInt(63 * MiB), 1]);
  assert.deepEqual(entry(3), [0n, 0n, 0]);
});

test('ELF zero page: a minimal 2.12 header', () => {
  const page = buildBootParams({
    kernelAddr: 0x200000, cmdlineAddr: 0x20000, cmdlineSize: 5, e820: buildE820(5 * GiB), initrdAddrMax: 0x7fffffff,
    acpiRsdpAddr: 0xe0000,
  });
  const v = view(page);
  assert.equal(v.getUint16(0x1fe, true), 0xaa55);
  assert.equal(v.getUint32(0x202, true), 0x53726448);
  assert.equal(v.getUint16(0x206, true), 0x020c);
  assert.equal(v.getUint8(0x210), 0xff);
  assert.equal(v.getUint8(0x211), 0x81);
  assert.equal(v.getUint32(0x22c, true), 0x7fffffff, 'initrd_addr_max');
  assert.equal(v.getUint32(0x238, true), 5, 'cmdline_size');
  assert.equal(v.getUint32(0x218, true), 0, 'no initrd');
  assert.equal(v.getUint32(0x21c, true), 0);
  assert.equal(v.getBigUint64(0x070, true), 0xe0000n, 'acpi_rsdp_addr');
  assert.equal(v.getUint8(0x1e8), 4);
  assert.equal(v.getBigUint64(0x2d0 + 3 * 20, true), BigInt(4 * GiB));
  assert.equal(v.getBigUint64(0x2d8 + 3 * 20, true), BigInt(2 * GiB));
});

test('addresses above 4 GiB are split into the header field and its ext_ field', () => {
  const page = buildBootParams({
    kernelAddr: 0x200000, cmdlineAddr: 0x1_2345_6000, cmdlineSize: 1, e820: [], initrdAddrMax: 0,
    initrd: { addr: 0x2_0000_1000, size: 0x1_0000_0010 },
  });
  const v = view(page);
  assert.equal(v.getUint32(0x228, true), 0x2345_6000);
  assert.equal(v.getUint32(0x0c8, true), 1);
  assert.equal(v.getUint32(0x218, true), 0x1000);
  assert.equal(v.getUint32(0x0c0, true), 2);
  assert.equal(v.getUint32(0x21c, true), 0x10);
  assert.equal(v.getUint32(0x0c4, true), 1);
});

test('more than 128 e820 entries is a programming error', () => {
  const e820 = Array.from({ length: 129 }, (_, i) => ({ addr: i * 4096, size: 4096, type: 1 }));
  assert.throws(() => buildBootParams({ kernelAddr: 0, cmdlineAddr: 0, cmdlineSize: 0, e820, initrdAddrMax: 0 }), RangeError);
});
